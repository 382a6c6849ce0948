"""Huracan's Telegram side (an outer layer, like hamilton_service): the bot process that sends the outbox's
notifications and answers commands, over python-telegram-bot.

`python -m huracan_telegram` = `huracan telegram`. What the commands do lives in `huracan_core.broadcaster`
(plain data); this package only talks to Telegram and formats.
"""
