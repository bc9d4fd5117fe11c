"""One screen per step of a session, plus home, help and the dialogs."""
