"""The embedded sandbox: local Binance Spot and Telegram Bot API emulators and a reference bot."""
