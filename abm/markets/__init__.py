"""Markets: pure allocation and clearing, and the regional rental/API market."""
