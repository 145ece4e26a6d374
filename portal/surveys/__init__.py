"""Surveyors' submissions: from an uploaded file to parcels in the versioned cadastre.

    workflow.py             draft -> submitted -> approved | rejected, one transaction each
    cadastre_validation.py  the validation that needs the cadastre (overlaps, codes, admin area)
    publication.py          writing validated parcels into the cadastre, all or nothing
    importer.py             bulk import by registry staff (`cadastre import`)
    reading.py              what reading one upload may cost (limits of the worker that reads it)
    api.py                  JSON API under /api/submissions
    pages.py                pages for surveyors and registrars
    queries.py              every SQL statement of the room
    schemas.py              what the JSON API sends (the whitelist of fields)
"""
