// The widget frame.
