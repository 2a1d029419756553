"""Pure decisions: no kopf, no network, no clock of its own."""
