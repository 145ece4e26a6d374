"""The public portal, disclosure tier 0: what anyone may see of the cadastre.

    pages.py        the full-screen map at `/` and a plain page per parcel
    mapview.py      the folium (Leaflet) map, served without any CDN
    api.py          the JSON behind the map: a parcel by code or point, search, labels
    parcels.py      a parcel's public facts assembled from the queries
    schemas.py      the whitelist of fields that may leave the server
    queries.py      the SQL
    sheet.py        the printable parcel sheet (宗地图), a PDF
    sheet_route.py  GET /parcels/{code}/sheet.pdf
"""
