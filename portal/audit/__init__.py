"""The audit trail (查询留痕): every look-up and change leaves a hash-chained row.

    trail.py  write rows, search, export, verify the chain, grant the app's role
    pages.py  the auditors' search page, JSON and CSV export (themselves audited)
"""
