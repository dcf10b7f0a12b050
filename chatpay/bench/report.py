"""Human-readable tables of bench results (``--json`` prints the result object instead)."""

from __future__ import annotations

from typing import Any


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _errors(result: dict[str, Any]) -> list[str]:
    lines = [f"errors: {result['errors']}"]
    lines += [f"  {count:>7}  {reason}" for reason, count in result.get("error_reasons", {}).items()]
    return lines


def format_flows(result: dict[str, Any]) -> str:
    """Throughput, the per-hop latency table and the error tally of ``bench flows``."""
    mode = f"open loop at {result['rate']}/s" if result.get("rate") else "closed loop"
    lines = [
        f"flows: {result['flows']} of {result['started']} in {result['seconds']:.2f} s = "
        f"{result['flows_per_s']} flows/s ({mode}, concurrency {result['concurrency']}, "
        f"{result['agents']} agents, bench CPU {result['client_cpu']:.0%})",
    ]
    if "late_starts" in result:
        lines.append(f"late starts (in-flight cap reached): {result['late_starts']}")
    lines.append(f"{'hop':<24}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for hop, s in result["hops"].items():
        lines.append(
            f"{hop:<24}{_ms(s['p50_ms']):>10}{_ms(s['p95_ms']):>10}{_ms(s['p99_ms']):>10}{_ms(s['max_ms']):>10}"
        )
    return "\n".join(lines + _errors(result))


def format_ingest(result: dict[str, Any]) -> str:
    """Accepted events per second and latency of ``bench ingest``, beside the broker ceiling."""
    if result["ceiling_per_s"] is None:
        ceiling = "not measured (no broker URL, or the broker failed: see errors)"
    else:
        ceiling = f"{result['ceiling_per_s']}/s; ratio {result['ratio']}"
    lines = [
        f"ingest: {result['accepted']} accepted (202) in {result['seconds']:.2f} s = "
        f"{result['accepted_per_s']}/s (concurrency {result['concurrency']}, "
        f"bench CPU {result['client_cpu']:.0%})",
        f"latency: p50 {_ms(result['p50_ms'])} ms, p99 {_ms(result['p99_ms'])} ms",
        f"raw ceiling (bare aio-pika, confirmed persistent publishes): {ceiling}",
    ]
    return "\n".join(lines + _errors(result))
