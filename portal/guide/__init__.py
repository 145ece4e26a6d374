"""The public registration guide: steps, documents, fees and time limits per kind of registration.

    model.py  the guide as data, checked, loaded and replaced in one transaction
    pages.py  /guide (public) and /guide/edit (administrators, registrars)
"""
