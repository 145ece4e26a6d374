"""The registration archive: scans and PDFs of source documents, kept by SHA-256, never changed.

    inspect.py  what a file is, decided from its bytes, and its pages rendered (in a limited worker)
    store.py    the file store interface (put/get/exists/path by hash) and its folder implementation
    service.py  keep, attach, who may see which file, page viewer; every view audited
    backup.py   the files in a backup, and restoring them with every hash checked
    api.py      JSON API under /api/archive, /api/sources/{id}/files, /api/submissions/{id}/files
    queries.py  every SQL statement of the room
    schemas.py  what the JSON API sends
    errors.py   FileRefused (422, with a stable `reason`), ArchiveNotFound (404)
"""
