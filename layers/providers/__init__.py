"""pygeoapi provider plugins of the cadastre, named by dotted path in the generated config."""
