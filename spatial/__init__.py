"""Pure geometry for uploaded surveys: read parcel files, validate them, report what is wrong.

    spatial.readers     read_parcels(path, crs=, layers=, filename=) -> ReadResult
    spatial.validation  validate / validate_result -> ValidationReport (spatial.report)
    spatial.crs         EPSG codes of CGCS2000 Gauss-Krüger zones, transforms to lon/lat
    spatial.codes       parcel codes and unit numbers (GB/T 37346)
    spatial.errors      SpatialError and subclasses, naming file, line, feature and field

No web, no database, no settings: callers pass plain values.
"""

__all__: list[str] = []
