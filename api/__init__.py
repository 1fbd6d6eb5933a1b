"""The HTTP API (FastAPI): built by the HTTP engine issue; the library in district_engine/ never imports it."""
