"""Districts: the model, and loading of the demo geodata."""

from district_engine.districts.model import District

__all__ = ["District"]
