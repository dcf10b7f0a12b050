"""ISO 4217 currencies: minor-unit exponents and how amounts are shown."""

from __future__ import annotations

#: Active ISO 4217 codes whose minor unit is 1/100.
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD "
    "GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD "
    "MDL MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR "
    "PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT "
    "TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG"
).split()
#: Codes with no minor unit.
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()
#: Codes whose minor unit is 1/1000.
_THREE = "BHD IQD JOD KWD LYD OMR TND".split()

#: Decimal places of each supported currency.
EXPONENT: dict[str, int] = {c: 2 for c in _TWO} | {c: 0 for c in _ZERO} | {c: 3 for c in _THREE}

#: Prefix symbols for the currencies contact centres meet most; others show their code.
_SYMBOL = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩", "ILS": "₪", "NGN": "₦"}


def is_currency(code: str) -> bool:
    return code in EXPONENT


def display_amount(amount: int, currency: str) -> str:
    """``(1999, "USD")`` → ``$19.99``; ``(1500, "KWD")`` → ``1.500 KWD``."""
    exp = EXPONENT.get(currency, 2)
    sign = "-" if amount < 0 else ""
    units, minor = divmod(abs(amount), 10**exp)
    number = f"{units:,}" + (f".{minor:0{exp}d}" if exp else "")
    symbol = _SYMBOL.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"
