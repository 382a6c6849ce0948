"""Huracan's Telegram side: the bot process that sends the outbox's notifications and answers commands."""
