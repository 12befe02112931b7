// The widget library for host pages.
