"""Periods and currencies. Prices are USD; requests talk in ₹/day or $/month."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

HOURS_PER_MONTH = Decimal(730)  # AWS's own convention for monthly estimates
HOURS_PER_DAY = Decimal(24)
SYMBOLS = {"USD": "$", "INR": "₹", "EUR": "€", "GBP": "£"}
DEFAULT_RATES: dict[str, Decimal] = {"USD": Decimal(1)}


def monthly_to_daily(monthly: Decimal) -> Decimal:
    return monthly * HOURS_PER_DAY / HOURS_PER_MONTH


def monthly_to_hourly(monthly: Decimal) -> Decimal:
    return monthly / HOURS_PER_MONTH


def rate_for(currency: str, rates: Mapping[str, object]) -> Decimal:
    """Units of `currency` per USD; str() first so float settings do not leak binary noise."""
    code = currency.upper()
    if code == "USD":
        return Decimal(1)
    if code not in rates:
        raise ValueError(f"no exchange rate configured for {code} (GANTRY_CURRENCY_RATES)")
    rate = Decimal(str(rates[code]))
    if rate <= 0:
        raise ValueError(f"exchange rate for {code} must be positive")
    return rate


def convert(usd: Decimal, currency: str, rates: Mapping[str, object]) -> Decimal:
    return usd * rate_for(currency, rates)


def to_usd(amount: Decimal, currency: str, rates: Mapping[str, object]) -> Decimal:
    return amount / rate_for(currency, rates)


def settings_rates() -> Mapping[str, object]:
    """GANTRY_CURRENCY_RATES from Django settings, or USD only when Django is not configured."""
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        try:
            return getattr(settings, "GANTRY_CURRENCY_RATES", DEFAULT_RATES)
        except ImproperlyConfigured:
            return DEFAULT_RATES
    except ImportError:
        return DEFAULT_RATES


def quantize(amount: Decimal, places: int = 2) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def fmt(amount: Decimal, currency: str, places: int = 2) -> str:
    """`₹1,234.50` / `-$3.20`: the sign leads so deltas read naturally."""
    value = quantize(amount, places)
    sign = "-" if value < 0 else ""
    symbol = SYMBOLS.get(currency.upper(), currency.upper() + " ")
    return f"{sign}{symbol}{abs(value):,.{places}f}"
