"""Bone maps: which source bone drives which target bone, found from bone names or kept as JSON presets.

A map is a list of (source, target) bone-name pairs. A target bone may appear several times (several
source bones drive it, e.g. SMPL spine1..spine3 onto a 2-bone spine) and so may a source bone (one
source neck drives a 2-bone neck). retarget.py gives each target bone the mean world rotation of its
sources, so both cases stay well defined.

Automatic mapping classifies every bone name into a body part named like the SMPL joints (pelvis,
left_hip = thigh, left_knee = shin, left_ankle = foot, left_foot = toes, spine*, neck, head,
left_collar, left_shoulder = upper arm, left_elbow = forearm, left_wrist = hand). Names are first
normalised (split_name): namespaces ("mixamorig:", "mixamorig1_", "Bip01 "), Rigify role prefixes
(DEF-/ORG-/MCH-) and "_fk"/"_ik" suffixes, side marks (Left/Right prefixes, L_/R_ prefixes,
.L/_l/-R suffixes, Rigify's ".L.001" segments), separators, case and zero-padded numbers. The stem
is then looked up in a synonym table. Two naming styles disagree about three words: a rig whose
joints are named like SMPL's (it has collar, elbow and ankle bones: SMPL, SMPL-X) calls the upper
arm "shoulder", the toes "foot" and the hand end "hand"; every other style (Mixamo, CMU, Rigify,
Unreal, Biped) names the segment starting at the joint: "shoulder" is the clavicle, "foot" the
ankle, "hand" the wrist. Spines and necks are chains of different lengths between rigs: they are
matched as ordered chains (distribute). Rigify's metarig numbers its whole spine (spine = hips,
spine.004-.005 = neck, spine.006 = head): the chain's root becomes the pelvis when no bone is named
hips/pelvis, and chain bones above the chest (the collar bones' parent) become neck and head.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from .atomic_file import write_text

PRESETS_DIR = Path(__file__).with_name("presets")
PRESET_FORMAT = "lm2d-bone-map"
PRESET_VERSION = 1

# Sided stems -> part (without the side). SEGMENT_STYLE names a bone by the segment it starts;
# SMPL_STYLE by the joint, as SMPL does.
_COMMON_SIDED = {
    "thigh": "hip", "upleg": "hip", "upperleg": "hip", "hip": "hip",
    "knee": "knee", "shin": "knee", "calf": "knee", "lowerleg": "knee",
    "ankle": "ankle",
    "toebase": "foot", "toe": "foot", "toes": "foot", "ball": "foot",
    "collar": "collar", "clavicle": "collar", "collarbone": "collar",
    "upperarm": "shoulder",
    "forearm": "elbow", "lowerarm": "elbow", "elbow": "elbow",
    "wrist": "wrist",
}
SEGMENT_STYLE = {**_COMMON_SIDED, "leg": "knee", "foot": "ankle", "shoulder": "collar", "arm": "shoulder",
                 "hand": "wrist"}
SMPL_STYLE = {**_COMMON_SIDED, "foot": "foot", "shoulder": "shoulder", "hand": "hand"}
SMPL_STYLE_MARKERS = {"collar", "elbow", "ankle"}   # sided stems only SMPL-like rigs have all of
PELVIS_STEMS = {"hips", "hip", "pelvis"}
SPINE_STEMS = {"spine", "lowerback", "chest", "upperchest"}
NECK_STEMS = {"neck"}
HEAD_STEMS = {"head"}
# Which bone wins when a part has several candidates: Rigify's FK controls over plain names over
# its ORG- then DEF- copies. MCH- bones and IK controls are never driven.
ROLE_PRIORITY = {"fk": 0, "": 1, "org": 2, "def": 3}
HAND_ENDS = {"left_hand", "right_hand"}

_NAMESPACE = re.compile(r"^(?:.*:|mixamorig\d*_|bip0*1[ _])", re.IGNORECASE)
_ROLE_PREFIX = re.compile(r"^(DEF|ORG|MCH)[-_.]", re.IGNORECASE)
_SEGMENT_INDEX = re.compile(r"\.(\d{3})$")                      # Rigify's thigh.L.001
_SIDE_SUFFIX = re.compile(r"(?:[._\- ]([LRlr])|[._\- ]?(Left|Right|left|right))$")
_SIDE_WORD_PREFIX = re.compile(r"^(left|right)[._\- ]?", re.IGNORECASE)
_SIDE_LETTER_PREFIX = re.compile(r"^(?:([LR])(?:[._\- ]|(?=[A-Z]))|([lr])[._\- ])")
_TRAILING_NUMBER = re.compile(r"[._\- ]?(\d+)$")
_ROLE_SUFFIX = re.compile(r"[._\- ]?(fk|ik)$", re.IGNORECASE)


class BoneMapError(ValueError):
    """A preset file that cannot be used; the message names the file."""


class BoneName(NamedTuple):
    side: str            # "left", "right" or ""
    stem: str            # lower case, no separators, no digits at the end: "upleg", "spine"
    index: int | None    # trailing number ("Spine2" -> 2, "spine.003" -> 3)
    role: str            # "", "fk", "ik", "def", "org", "mch"


def split_name(name: str) -> BoneName:
    """Normalise a bone name into side, stem, trailing number and rig role."""
    rest = _NAMESPACE.sub("", name.strip())
    role = ""
    match = _ROLE_PREFIX.match(rest)
    if match:
        role, rest = match.group(1).lower(), rest[match.end():]
    index = None
    match = _SEGMENT_INDEX.search(rest)
    if match:
        index, rest = int(match.group(1)), rest[:match.start()]
    side = ""
    match = _SIDE_SUFFIX.search(rest)
    if match and match.start() > 0:
        side, rest = (match.group(1) or match.group(2))[0].lower(), rest[:match.start()]
    else:
        match = _SIDE_WORD_PREFIX.match(rest) or _SIDE_LETTER_PREFIX.match(rest)
        if match and match.end() < len(rest):
            side, rest = match.group(0)[0].lower(), rest[match.end():]
    side = {"l": "left", "r": "right"}.get(side, "")
    segment = ""
    if side and index is not None:      # "DEF-thigh.L.001": the thigh's second segment, another bone
        segment, index = f"{index:03d}", None
    match = _TRAILING_NUMBER.search(rest)
    if match and index is None and not segment and match.start() > 0:
        index, rest = int(match.group(1)), rest[:match.start()]
    match = _ROLE_SUFFIX.search(rest)
    if match and match.start() > 0 and role == "":
        role, rest = match.group(1).lower(), rest[:match.start()]
    return BoneName(side, re.sub(r"[^a-z0-9]", "", rest.lower()) + segment, index, role)


def name_key(name: str) -> tuple:
    """What two spellings of one bone share ("mixamorig:Hips" and "mixamorig1:Hips")."""
    return tuple(split_name(name))


# --- classifying a rig ----------------------------------------------------------------------

class Rig(NamedTuple):
    """Bone names and parents of an armature, parents listed before children."""
    names: tuple[str, ...]
    parents: tuple[int, ...]

    @classmethod
    def from_pairs(cls, bones: Iterable[tuple[str, str | None]]) -> "Rig":
        """From (name, parent name or None) in any order."""
        parent_of = dict(bones)
        ordered: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            parent = parent_of[name]
            if parent is not None:
                visit(parent)
            ordered.append(name)

        for name in parent_of:
            visit(name)
        index = {name: i for i, name in enumerate(ordered)}
        return cls(tuple(ordered), tuple(-1 if parent_of[n] is None else index[parent_of[n]] for n in ordered))

    def depth(self, bone: int) -> int:
        depth = 0
        while self.parents[bone] >= 0:
            bone, depth = self.parents[bone], depth + 1
        return depth


def _best_role(candidates: list[tuple[int, BoneName]]) -> list[tuple[int, BoneName]]:
    """Keep only the candidates of the most preferred role present."""
    usable = [(i, n) for i, n in candidates if n.role in ROLE_PRIORITY]
    if not usable:
        return []
    best = min(ROLE_PRIORITY[n.role] for _, n in usable)
    return [(i, n) for i, n in usable if ROLE_PRIORITY[n.role] == best]


def classify(rig: Rig) -> dict[str, list[int]]:
    """Body part -> bone indices. Single parts ("pelvis", "left_knee", …) hold one bone; the chains
    "spine" and "neck" hold theirs from the root outwards."""
    names = [split_name(name) for name in rig.names]
    sided_stems = {n.stem for n in names if n.side}
    table = SMPL_STYLE if SMPL_STYLE_MARKERS <= sided_stems else SEGMENT_STYLE
    candidates: dict[str, list[tuple[int, BoneName]]] = {}
    for i, n in enumerate(names):
        if n.side:
            part = table.get(n.stem)
            part = part and f"{n.side}_{part}"
        elif n.stem in PELVIS_STEMS and n.index is None:
            part = "pelvis"
        elif n.stem in SPINE_STEMS:
            part = "spine"
        elif n.stem in NECK_STEMS:
            part = "neck"
        elif n.stem in HEAD_STEMS and n.index is None:
            part = "head"
        else:
            part = None
        if part:
            candidates.setdefault(part, []).append((i, n))
    parts: dict[str, list[int]] = {}
    for part, found in candidates.items():
        bones = sorted((i for i, _ in _best_role(found)), key=rig.depth)
        if bones:
            parts[part] = bones if part in ("spine", "neck") else bones[:1]
    _split_numbered_spine(rig, parts)
    return parts


def _split_numbered_spine(rig: Rig, parts: dict[str, list[int]]) -> None:
    """Rigify's metarig: the spine chain's root is the pelvis when nothing else is, and chain bones
    above the chest (the collars' parent) are the neck (all but the last) and the head (the last)."""
    spine = parts.get("spine", [])
    if spine and "pelvis" not in parts and len(spine) > 1:
        parts["pelvis"], spine = [spine[0]], spine[1:]
    collars = [parts[p][0] for p in ("left_collar", "right_collar") if p in parts]
    chest = rig.parents[collars[0]] if collars else -1
    if chest in spine and "neck" not in parts and "head" not in parts:
        above = spine[spine.index(chest) + 1:]
        spine = spine[:len(spine) - len(above)]
        if above:
            parts["head"] = above[-1:]
            if len(above) > 1:
                parts["neck"] = above[:-1]
    if spine:
        parts["spine"] = spine
    else:
        parts.pop("spine", None)


def distribute(sources: Sequence[int], targets: Sequence[int]) -> list[tuple[int, int]]:
    """Pair two chains of different lengths, root to tip: every target gets at least one source and
    every source at least one target, in order."""
    m, n = len(sources), len(targets)
    if not m or not n:
        return []
    if m >= n:
        return [(sources[i], targets[i * n // m]) for i in range(m)]
    return [(sources[k * m // n], targets[k]) for k in range(n)]


def auto_map(source: Rig, target: Rig) -> list[tuple[str, str]]:
    """(source bone, target bone) pairs for every body part both rigs have, in target bone order."""
    source_parts, target_parts = classify(source), classify(target)
    pairs = []
    for part, target_bones in target_parts.items():
        source_bones = source_parts.get(part)
        if source_bones:
            pairs.extend(distribute(source_bones, target_bones))
    pairs.sort(key=lambda pair: (pair[1], source.depth(pair[0])))   # target order: parents first
    return [(source.names[s], target.names[t]) for s, t in pairs]


def unmapped_parts(source: Rig, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Body parts of the source that drive nothing under `pairs` (the user may want to map them).
    SMPL's hand ends are left out: they are the tips of the wrist bones and rotate nothing."""
    used = {s for s, _ in pairs}
    return [part for part, bones in classify(source).items()
            if part not in HAND_ENDS and not any(source.names[b] in used for b in bones)]


# --- presets -----------------------------------------------------------------------------------

def save_preset(path: str | os.PathLike, pairs: Sequence[tuple[str, str]], name: str = "") -> None:
    """Write a preset: JSON with one [source, target] pair per line, easy to edit and to diff."""
    header = {"format": PRESET_FORMAT, "version": PRESET_VERSION, "name": name or Path(path).stem}
    rows = ",\n".join(f"  {json.dumps([source, target], ensure_ascii=False)}" for source, target in pairs)
    text = json.dumps(header, ensure_ascii=False)[:-1] + f',\n "pairs": [\n{rows}\n ]}}\n'
    write_text(path, text)


def load_preset(path: str | os.PathLike) -> tuple[str, list[tuple[str, str]]]:
    """(name, pairs) of a preset file. Raises BoneMapError naming the file."""
    path = os.fspath(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BoneMapError(f"{path}: no such bone map preset") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BoneMapError(f"{path}: cannot read it ({err})") from None
    except json.JSONDecodeError as err:
        raise BoneMapError(f"{path}:{err.lineno}: not JSON ({err.msg})") from None
    if not isinstance(data, dict) or data.get("format") != PRESET_FORMAT:
        raise BoneMapError(f"{path}: not an LM2D bone map (\"format\" must be \"{PRESET_FORMAT}\")")
    if data.get("version") != PRESET_VERSION:
        raise BoneMapError(f"{path}: bone map version {data.get('version')!r}, this add-on reads {PRESET_VERSION}")
    pairs = data.get("pairs")
    if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) and s for s in p) for p in pairs):
        raise BoneMapError(f"{path}: \"pairs\" must be a list of [source bone, target bone] name pairs")
    return str(data.get("name") or Path(path).stem), [(s, t) for s, t in pairs]


def shipped_presets() -> list[Path]:
    return sorted(PRESETS_DIR.glob("*.json"))


def resolve_pairs(pairs: Sequence[tuple[str, str]], source_names: Iterable[str],
                  target_names: Iterable[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Fit preset pairs to two armatures: names match exactly, or else by their normalised form (so a
    preset for "mixamorig:Hips" fits "mixamorig1:Hips"). Returns (usable pairs, pairs that fit not)."""
    def resolver(names: Iterable[str]):
        names = list(names)
        exact, by_key = set(names), {}
        for name in names:
            by_key.setdefault(name_key(name), name)
        return lambda name: name if name in exact else by_key.get(name_key(name))

    find_source, find_target = resolver(source_names), resolver(target_names)
    usable, unfit = [], []
    for source, target in pairs:
        found = (find_source(source), find_target(target))
        if None in found:
            unfit.append((source, target))
        else:
            usable.append(found)
    return usable, unfit
