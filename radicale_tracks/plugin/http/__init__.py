"""The HTTP surface: one module per method or concern, combined by ``application.py``
(see its docstring for the map)."""
