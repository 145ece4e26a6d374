"""The register in and out: an office's existing register imported from, and exported to, a
documented exchange layout (docs/register-exchange.md).

    layout.py      the tables and columns of the layout and their code lists: the one place
    reading.py     CSV (UTF-8 or GBK) directories, XLSX workbooks and GeoPackages into rows with their places
    validation.py  rows into records, every problem named by file, row and column
    parcels.py     parcels with their geometry (ZDJBXX): checked and published as a survey publication
    importing.py   records into the register in one transaction, idempotent by the old ids
    exporting.py   the register into the same layout, and the per-table checksums
"""
