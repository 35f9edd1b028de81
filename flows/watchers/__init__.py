"""Long-running watchers that notice new reports between scheduled collects (inbox folder, IMAP IDLE)."""
