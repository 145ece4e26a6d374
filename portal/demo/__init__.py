"""The seeded demo district (Hangzhou 330102), so the portal can be tried at once.

    district.py      streets, blocks and parcels in CGCS2000 Gauss-Krüger zone 40 (EPSG:4528)
    people.py        invented people and organisations with well-formed identity numbers
    applications.py  a year of the office's applications, for the queue and the statistics
    accounts.py      one demo account per role
    loader.py        everything loaded with COPY, deterministically for a seed
"""
