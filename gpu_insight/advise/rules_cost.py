"""Cost rules, read from the usage books (asked for with focus cost): GPUs held while idle, GPUs
that consolidation would free, and GPUs larger than their models need.

Every cost figure names its window, its price (and the setting it came from) and the rows of
the books it was added up from. A window shorter than a year is extrapolated to a day and a
month at the rate it shows. With no price in the settings a rule says which setting it needs.
What a model needs comes from the estimator for the engine that serves it (a reserving engine
holds more than it needs); for a model the estimator does not know, its observed peak.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from gpu_insight.advise.costs import (
    HOURS_PER_DAY,
    HOURS_PER_MONTH,
    Price,
    matches,
    money,
    needs_a_price,
)
from gpu_insight.advise.sizing import engine_need_mib
from gpu_insight.advise.suggestion import Situation, Suggestion, gib
from gpu_insight.engines import fills_gpu_memory, flag
from gpu_insight.estimate.placement import COMMON_GPUS
from gpu_insight.schemas import Engine, GpuUsage, HolderUsage

MIN_OBSERVED_S = 60.0  # a GPU watched for less than a minute of the books gets no cost
_IDLE_HELD_SHARE = 0.1  # a holder idle-held this share of its GPU's watched time
_HEADROOM = 1.1  # a GPU must hold what the models need plus this much
_PACKED_BUSY = 0.8  # the busy share packed models may add up to on one GPU
_PACKED_MEMORY = 0.9  # the share of a GPU's memory packed models may fill
_SHORT_UUID = 12


@dataclass(frozen=True)
class _Need:
    holder: HolderUsage
    gpu: GpuUsage
    mib: float
    how: str  # "estimator" or "observed peak"

    @property
    def who(self) -> str:
        h = self.holder
        return h.app or h.container or h.model or "unattributed"

    @property
    def busy_share(self) -> float:
        return (
            self.holder.gpu_seconds / self.gpu.observed_seconds
            if self.gpu.observed_seconds
            else 0.0
        )


def idle_but_held_cost(s: Situation) -> Iterator[Suggestion]:
    if s.usage is None:
        return
    owners: dict[tuple[str | None, str | None], list[tuple[GpuUsage, HolderUsage]]] = defaultdict(
        list
    )
    for gpu in _watched(s):
        for holder in gpu.holders:
            if holder.idle_held_gpu_seconds >= _IDLE_HELD_SHARE * gpu.observed_seconds:
                owners[(holder.app, holder.team)].append((gpu, holder))
    for (app, team), rows in owners.items():
        yield _idle_cost(s, app, team, rows)


def _idle_cost(
    s: Situation, app: str | None, team: str | None, rows: list[tuple[GpuUsage, HolderUsage]]
) -> Suggestion:
    idle_hours = sum(h.idle_held_gpu_seconds for _, h in rows) / 3600
    watched_hours = max(g.observed_seconds for g, _ in rows) / 3600
    owner = f"{app or 'unattributed'} (team {team or 'unattributed'})"
    evidence: dict[str, float | int | str] = {
        "app": app or "unattributed",
        "team": team or "unattributed",
        "window": _window(s),
        "watched_hours": round(watched_hours, 2),
        "idle_held_gpu_hours": round(idle_hours, 2),
        "idle_share_percent": round(idle_hours / watched_hours * 100) if watched_hours else 0,
        "gpus": len({g.gpu_uuid for g, _ in rows}),
        "book_rows": _book_rows(rows),
    }
    prices = [s.prices.of(g.name) for g, _ in rows]
    saving = None
    if all(p is not None for p in prices):
        known = [p for p in prices if p is not None]
        per_day = sum(
            h.idle_held_gpu_seconds / g.observed_seconds * HOURS_PER_DAY * p.per_gpu_hour
            for (g, h), p in zip(rows, known, strict=True)
        )
        saving = money(per_day * HOURS_PER_MONTH / HOURS_PER_DAY)
        evidence |= _price_evidence(known) | {
            "cost_in_window": money(
                sum(
                    h.idle_held_gpu_seconds / 3600 * p.per_gpu_hour
                    for (_, h), p in zip(rows, known, strict=True)
                )
            ),
            "cost_per_day": money(per_day),
            "cost_per_month": saving,
        }
        cost = f": {saving:,.2f} per month"
    else:
        cost = ""
    engines = {h.engine for _, h in rows}
    return Suggestion(
        id="idle-but-held-cost",
        severity="info",
        title=f"{owner} held {evidence['gpus']} GPU(s) idle for {round(idle_hours, 2)} GPU-hours "
        f"of {round(watched_hours, 2)} watched{cost}",
        change=_release(engines) + ("" if saving is not None else "; " + needs_a_price("its cost")),
        evidence=evidence,
        expected_effect=(
            "the GPU time held idle is free for other work or billed no more"
            + (f": {saving:,.2f} per month at the prices set" if saving is not None else "")
        ),
        source="GPU Insight usage books (idle-held GPU-seconds: ≤ 5 % busy, split by memory)",
        scope=f"app {app or 'unattributed'} team {team or 'unattributed'}",
        focus=("cost",),
        gain=0.5,
        saving_per_month=saving,
    )


def _release(engines: set[Engine]) -> str:
    """How the holders give an idle GPU back, by engine."""
    ways = []
    if "ollama" in engines:
        ways.append(f"unload sooner: {flag('ollama', 'keep_alive', '5m')}")
    if any(fills_gpu_memory(e) for e in engines):
        ways.append(
            "stop the engine in the hours it sits idle, or move it to a shared GPU with a "
            "smaller memory fraction (see consolidate-gpus)"
        )
    if not ways or engines - {"ollama"} - {e for e in engines if fills_gpu_memory(e)}:
        ways.append("unload the model when idle, or serve it from a shared engine")
    return "; ".join(ways)


def right_size_gpu(s: Situation) -> Iterator[Suggestion]:
    if s.usage is None:
        return
    for gpu in _watched(s):
        if not gpu.holders or not gpu.memory_total_mib:
            continue
        needs = [_need(s, gpu, h) for h in gpu.holders]
        need_mib = sum(n.mib for n in needs) * _HEADROOM
        smaller = [b for b in _boards(s) if need_mib <= b[1] < gpu.memory_total_mib]
        if not smaller:
            continue
        yield _right_size(s, gpu, needs, need_mib, smaller)


def _right_size(
    s: Situation,
    gpu: GpuUsage,
    needs: list[_Need],
    need_mib: float,
    smaller: list[tuple[str, float]],
) -> Suggestion:
    now = s.prices.of(gpu.name)
    priced = [
        (name, usable, price)
        for name, usable in smaller
        for gpu_type, price in s.prices.table()
        if matches(gpu_type, name)
    ]
    cheaper = [c for c in priced if now is not None and c[2] < now.per_gpu_hour]
    evidence: dict[str, float | int | str] = {
        "gpu": _gpu_name(s, gpu),
        "window": _window(s),
        "watched_hours": round(gpu.observed_seconds / 3600, 2),
        "peak_memory_used_gib": gib(gpu.peak_memory_used_mib or 0.0),
        "peak_utilization_percent": round(gpu.peak_utilization_percent or 0.0),
        "busy_percent": round(gpu.busy_gpu_seconds / gpu.observed_seconds * 100),
        "need_gib": gib(need_mib),
        "needs": "; ".join(
            f"{n.who} {n.holder.model or ''} {gib(n.mib)} GiB ({n.how})" for n in needs
        ),
        "book_rows": _book_rows([(gpu, n.holder) for n in needs]),
    }
    saving = None
    if cheaper and now is not None:
        name, usable, price = min(cheaper, key=lambda c: (c[2], c[1]))
        saving = money((now.per_gpu_hour - price) * HOURS_PER_MONTH)
        evidence |= _price_evidence([now]) | {
            "smaller_gpu": name,
            "smaller_gpu_usable_gib": gib(usable),
            "smaller_gpu_price_per_gpu_hour": price,
            "saving_per_month": saving,
        }
        target = f"an {name} ({gib(usable)} GiB, {price:g} per GPU-hour)"
        cost = f": {saving:,.2f} less per month"
    else:
        name, usable = min(smaller, key=lambda b: b[1])
        evidence |= {"smaller_gpu": name, "smaller_gpu_usable_gib": gib(usable)}
        target, cost = f"an {name} ({gib(usable)} GiB)", ""
    fractions = [
        f
        for n in needs
        if fills_gpu_memory(n.holder.engine)
        and (f := flag(n.holder.engine, "memory_fraction", math.ceil(n.mib / usable * 100) / 100))
    ]
    busy_note = (
        "; it peaked at "
        f"{evidence['peak_utilization_percent']}% busy: check latency on the smaller GPU, which "
        "has less compute"
        if (gpu.peak_utilization_percent or 0.0) >= 90
        else ""
    )
    return Suggestion(
        id="right-size-gpu",
        severity="info",
        title=f"{evidence['gpu']} peaked at {evidence['peak_memory_used_gib']} GiB over "
        f"{evidence['watched_hours']} h; its models need {evidence['need_gib']} GiB: "
        f"{target} holds them{cost}",
        change=f"move them to {target}"
        + (f" with {' / '.join(fractions)}" if fractions else "")
        + ("" if saving is not None else "; " + needs_a_price("the saving (gpu_prices per type)")),
        evidence=evidence,
        expected_effect=f"the same models on a smaller, cheaper GPU{busy_note}",
        source="GPU Insight usage books (peaks per GPU and holder); estimator memory per engine",
        scope=f"gpu {gpu.gpu_uuid}",
        focus=("cost",),
        gain=0.4,
        saving_per_month=saving,
    )


def consolidate_gpus(s: Situation) -> Iterator[Suggestion]:
    if s.usage is None:
        return
    hosts: dict[str, list[GpuUsage]] = defaultdict(list)
    for gpu in _watched(s):
        if gpu.holders and gpu.memory_total_mib:
            hosts[gpu.host or s.usage.host].append(gpu)
    for host, gpus in hosts.items():
        if len(gpus) < 2:
            continue
        needs = sorted((_need(s, g, h) for g in gpus for h in g.holders), key=lambda n: -n.mib)
        placed = _pack(needs, gpus)
        if placed is None:
            continue
        kept = {placed[id(n)].gpu_uuid for n in needs}
        freed = [g for g in gpus if g.gpu_uuid not in kept]
        if not freed:
            continue
        yield _consolidation(s, host, gpus, needs, placed, freed)


def _pack(needs: list[_Need], gpus: list[GpuUsage]) -> dict[int, GpuUsage] | None:
    """First fit, largest need first, onto the GPUs holding the most already: memory up to
    _PACKED_MEMORY of each GPU and busy shares up to _PACKED_BUSY; None if something fits no
    GPU."""
    order = sorted(gpus, key=lambda g: -sum(_held(g)))
    room = {g.gpu_uuid: (g.memory_total_mib or 0.0) * _PACKED_MEMORY for g in order}
    busy = {g.gpu_uuid: 0.0 for g in order}
    placed: dict[int, GpuUsage] = {}
    for need in needs:
        target = next(
            (
                g
                for g in order
                if need.mib <= room[g.gpu_uuid]
                and busy[g.gpu_uuid] + need.busy_share <= _PACKED_BUSY
            ),
            None,
        )
        if target is None:
            return None
        room[target.gpu_uuid] -= need.mib
        busy[target.gpu_uuid] += need.busy_share
        placed[id(need)] = target
    return placed


def _fraction(need: _Need, gpu: GpuUsage) -> str | None:
    """The memory-fraction flag that sizes a reserving engine to its need on that GPU."""
    if not fills_gpu_memory(need.holder.engine) or not gpu.memory_total_mib:
        return None
    return flag(
        need.holder.engine,
        "memory_fraction",
        math.ceil(need.mib / gpu.memory_total_mib * 100) / 100,
    )


def _held(gpu: GpuUsage) -> list[float]:
    return [h.peak_memory_mib for h in gpu.holders]


def _consolidation(
    s: Situation,
    host: str,
    gpus: list[GpuUsage],
    needs: list[_Need],
    placed: dict[int, GpuUsage],
    freed: list[GpuUsage],
) -> Suggestion:
    receiving = {placed[id(n)].gpu_uuid for n in needs if placed[id(n)].gpu_uuid != n.gpu.gpu_uuid}
    moves = []
    for need in needs:
        target = placed[id(need)]
        fraction = _fraction(need, target)
        if target.gpu_uuid != need.gpu.gpu_uuid:
            moves.append(
                f"move {need.who} ({gib(need.mib)} GiB, {need.how}) from "
                f"{_gpu_name(s, need.gpu)} to {_gpu_name(s, target)}"
                + (f" with {fraction}" if fraction else "")
            )
        elif fraction and target.gpu_uuid in receiving:
            # it reserves most of its GPU now: it must shrink to make room for the newcomers
            moves.append(f"restart {need.who} on {_gpu_name(s, target)} with {fraction}")
    evidence: dict[str, float | int | str] = {
        "host": host,
        "window": _window(s),
        "gpus_holding_models": len(gpus),
        "gpus_after": len(gpus) - len(freed),
        "gpus_freed": len(freed),
        "freed": ", ".join(_gpu_name(s, g) for g in freed),
        "needs": "; ".join(f"{n.who} {gib(n.mib)} GiB ({n.how})" for n in needs),
        "book_rows": _book_rows([(n.gpu, n.holder) for n in needs]),
    }
    prices = [s.prices.of(g.name) for g in freed]
    saving = None
    if all(p is not None for p in prices):
        known = [p for p in prices if p is not None]
        saving = money(sum(p.per_month() for p in known))
        evidence |= _price_evidence(known) | {"saving_per_month": saving}
    cost = f", {saving:,.2f} per month" if saving is not None else ""
    return Suggestion(
        id="consolidate-gpus",
        severity="info",
        title=f"{host}: the models on {len(gpus)} GPUs fit on {len(gpus) - len(freed)}: "
        f"{len(freed)} GPU(s) freed{cost}",
        change="; ".join(moves)
        + ("" if saving is not None else "; " + needs_a_price("the saving")),
        evidence=evidence,
        expected_effect=(
            f"{len(freed)} GPU(s) empty for other work or to give back; the models share GPUs, "
            "so start them one after another"
        ),
        source="GPU Insight usage books (peaks and busy time per holder); estimator memory per "
        "engine",
        scope=f"host {host}",
        focus=("cost",),
        gain=0.6,
        saving_per_month=saving,
    )


def _watched(s: Situation) -> list[GpuUsage]:
    assert s.usage is not None
    return [g for g in s.usage.gpus if g.observed_seconds >= MIN_OBSERVED_S]


def _need(s: Situation, gpu: GpuUsage, holder: HolderUsage) -> _Need:
    """What the holder must keep: the estimator's need for its engine (a reserving engine's
    peak is its reservation), never less than a non-reserving engine's observed peak."""
    context = next(
        (
            e.max_model_len
            for e in s.snapshot.engines
            if e.model == holder.model and e.max_model_len
        ),
        None,
    )
    estimated = engine_need_mib(holder.model, holder.engine, context)
    if estimated is None:
        return _Need(holder, gpu, holder.peak_memory_mib, "observed peak")
    if fills_gpu_memory(holder.engine) or estimated >= holder.peak_memory_mib:
        return _Need(holder, gpu, estimated, f"estimator, {holder.engine}")
    return _Need(holder, gpu, holder.peak_memory_mib, "observed peak")


def _boards(s: Situation) -> list[tuple[str, float]]:
    """GPU types a model could move to: the estimator's common boards and the GPUs seen."""
    seen = {
        (g.name, g.memory_total_mib)
        for g in (s.usage.gpus if s.usage else [])
        if g.name and g.memory_total_mib
    }
    return sorted({(b.name, b.usable_mib) for b in COMMON_GPUS} | seen, key=lambda b: b[1])


def _window(s: Situation) -> str:
    assert s.usage is not None
    start, end = (
        datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")
        for t in (s.usage.from_t, s.usage.to_t)
    )
    return f"{start} to {end} UTC"


def _price_evidence(prices: list[Price]) -> dict[str, float | int | str]:
    values = sorted({p.per_gpu_hour for p in prices})
    return {
        "price_per_gpu_hour": values[0]
        if len(values) == 1
        else ", ".join(f"{v:g}" for v in values),
        "price_from": ", ".join(sorted({p.source for p in prices})),
    }


def _gpu_name(s: Situation, gpu: GpuUsage) -> str:
    live = next((g for g in s.snapshot.gpus if g.uuid == gpu.gpu_uuid), None)
    where = f"{gpu.host}:" if gpu.host else ""
    if live is not None:
        return f"{where}GPU {live.index} ({live.name})"
    return f"{where}GPU {gpu.gpu_uuid[:_SHORT_UUID]} ({gpu.name or 'unknown'})"


def _book_rows(rows: list[tuple[GpuUsage, HolderUsage]]) -> str:
    """The books' rows a figure came from: GPU × app × team × container × model."""
    return "; ".join(
        "/".join(
            part or "-" for part in (g.gpu_uuid[:_SHORT_UUID], h.app, h.team, h.container, h.model)
        )
        for g, h in rows
    )
