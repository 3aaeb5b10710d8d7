"""Routers per resource: items (search, versions, lineage, arrays), blobs (uploads), runs, admin, web UI."""
