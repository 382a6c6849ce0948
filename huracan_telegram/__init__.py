"""The Telegram bot (an outer layer, like hamilton_service): commands and notifications over python-telegram-bot.

`python -m huracan_telegram` = `huracan telegram`. What the commands do lives in `huracan_core.broadcaster`
(plain data); this package only talks to Telegram and formats.
"""
