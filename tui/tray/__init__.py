"""``detour tray``: the system-tray icon and menu. Talks to the daemon over HTTP only, like the TUI.

``look`` turns ``/status`` into the icon's state and tooltip, ``menu`` builds the
menu and its actions, ``app`` draws it with pystray (the ``tray`` extra). Only
``app`` imports pystray, so everything else is tested without a desktop.
"""
