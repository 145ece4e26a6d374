"""Write the QGIS Server project of the OGC peers benchmark (run by Debian's python3, which has PyQGIS).

    /usr/bin/python3 bench/peers/qgis_project.py OUT.qgs 'PostgreSQL conninfo'

One PostGIS layer, `parcels`, over the view bench_peers.parcels (integer key `id`), published
through WFS (which QGIS Server's OGC API Features reads its layer list from), in EPSG:4490.
"""

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import QgsApplication, QgsDataSourceUri, QgsProject, QgsVectorLayer  # noqa: E402

out, conninfo = sys.argv[1], sys.argv[2]
app = QgsApplication([], False)
app.initQgis()
uri = QgsDataSourceUri(conninfo)
uri.setDataSource("bench_peers", "parcels", "geom", "", "id")
uri.setSrid("4490")
uri.setWkbType(6)  # MultiPolygon
uri.setUseEstimatedMetadata(True)
layer = QgsVectorLayer(uri.uri(False), "parcels", "postgres")
if not layer.isValid():
    sys.exit("the parcels layer is not valid: " + layer.dataProvider().error().message())
project = QgsProject.instance()
project.addMapLayer(layer)
project.writeEntry("WFSLayers", "/", [layer.id()])
project.writeEntry("WFSLayersPrecision", "/" + layer.id(), 6)
project.writeEntry("WMSServiceCapabilities", "/", True)
project.writeEntry("WMSCrsList", "/", ["EPSG:4490", "EPSG:4326", "EPSG:3857"])
project.writeEntry("WMSExtent", "/", ["120.15", "30.22", "120.87", "30.56"])
project.setCrs(layer.crs())
if not project.write(out):
    sys.exit("cannot write " + out)
app.exitQgis()
