"""Gallery history: the SQLite store, image files, export and import. No Qt."""

from studio.gallery.db import GalleryError
from studio.gallery.store import Filters, Gallery, Record

__all__ = ["Filters", "Gallery", "GalleryError", "Record"]
