"""The desktop app (PySide6). The only package that imports Qt; the core never imports it."""
