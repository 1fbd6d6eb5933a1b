"""The HTTP API (FastAPI): the app, its routers and schemas; the library in district_engine/ never imports it."""
