"""Who speaks in each sentence of an article, from a dependency parse (index time only).

For each sentence, in order: the speakers with their cue and the span they report. A speaker is
the subject of a speech or stance verb ("Lavrov said", "said Dmitry Peskov", "the diplomat
clarified", "Kono, who thanked ..."), the object of "according to", or the speaker of the quote a
sentence belongs to (a quote the splitter cut is the speaker's up to where an attribution closes
it). "He", "she" and role nouns ("the minister", "the expert", "the Kremlin's press service")
resolve to the full name the article used last for a person of that role; a bare surname to the
fullest form of it seen so far. Where the parse finds nobody, ``qa/text/attribution.py``'s rules may.
spaCy is imported inside functions: nothing on the query path loads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qa.index.nlp import nlp
from qa.text.attribution import _closes_quote, open_quote, statement_flags
from qa.text.names import name_matches  # noqa: F401 (re-exported)
from qa.text.words import SPEECH_LEMMAS

_PREP_CUES = ("according",)
_PRONOUNS = frozenset({"he", "she"})
_RELATIVE = frozenset({"who", "that"})
_HONORIFIC = re.compile(r"^(?:Mr|Mrs|Ms|Dr|Mr\.|Mrs\.|Ms\.|Dr\.)\s+")
# Role words and the classes of title they stand for ("the diplomat" may be a minister).
_ROLE_CLASSES: dict[str, tuple[str, ...]] = {
    "minister": ("minister",), "diplomat": ("minister", "diplomat"), "ambassador": ("diplomat",),
    "envoy": ("diplomat",), "spokesman": ("spokesman",), "spokeswoman": ("spokesman",),
    "spokesperson": ("spokesman",), "secretary": ("spokesman",), "expert": ("expert",),
    "analyst": ("expert",), "researcher": ("expert",), "scholar": ("expert",), "professor": ("expert",),
    "president": ("president",), "premier": ("premier",), "leader": ("president", "premier"),
}
_TITLE_CLASSES = (
    ("premier", re.compile(r"\bprime minister|\bpremier\b", re.I)),
    ("minister", re.compile(r"\b(?<!prime )minister\b|\bhead of the (?:\w+ )*"
                            r"(?:foreign ministry|ministry of foreign)", re.I)),
    ("diplomat", re.compile(r"\b(?:ambassador|envoy|diplomat)\b", re.I)),
    ("spokesman", re.compile(r"\b(?:spokes\w+|press secretary)\b", re.I)),
    ("expert", re.compile(r"\b(?:expert|analyst|fellow|researcher|scholar|professor|studies|director|"
                          r"institute|university|academy)\b", re.I)),
    ("president", re.compile(r"\bpresident\b", re.I)),
)
_ORG_HEADS = frozenset("service ministry office agency government embassy cabinet department "
                       "committee spokesman spokeswoman spokesperson".split())


@dataclass
class Attribution:
    """One speaker of a sentence: the name as the article gives it, the cue, the reported span."""

    speaker: str
    cue: str  # the cue verb's lemma, "according to", or "quote" (a quote continued from or closed in another sentence)
    start: int  # the reported span, in the sentence's text
    end: int


@dataclass
class _Memory:
    """What an article has said so far: people, their titles, the last speaker."""

    full: dict[str, str] = field(default_factory=dict)  # surname -> fullest name seen
    by_class: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # class -> [(person, nationality)]
    orgs: dict[str, str] = field(default_factory=dict)  # head noun ("service") -> last organisation speaker
    last_person: str | None = None  # the last person named
    target: str | None = None  # whom "he"/"she" means: the last person speaking or acting as a subject
    target_at: int = -99
    persons: set[str] = field(default_factory=set)  # full names known to be people
    seen: dict[str, int] = field(default_factory=dict)  # person -> when last named or heard (a running count)
    clock: int = 0

    def saw(self, person: str) -> None:
        self.clock += 1
        self.seen[person] = self.clock


def attribute(sentences: list[str], batch_size: int = 64, fallback: bool = True,
              docs: list | None = None) -> list[list[Attribution]]:
    """The speakers of each of an article's sentences (in reading order), with cue and span
    (``docs``: the sentences already parsed by ``qa.index.annotate.nlp()``)."""
    if docs is None:
        docs = list(nlp().pipe(sentences, batch_size=batch_size))
    mem = _Memory()
    out: list[list[Attribution]] = []
    for i, doc in enumerate(docs):
        found = _sentence(doc, mem, i)
        _remember_people(doc, mem, i)
        people = [a.speaker for a in found if a.speaker in mem.persons]
        for p in people:
            mem.saw(p)
        if people:
            mem.target, mem.target_at = people[-1], i
        out.append(found)
    _spread_quotes(sentences, out)
    if fallback:
        _rules_fallback(sentences, out, mem)
    return out


def speakers_of(doc_sentences: list[str]) -> list[list[str]]:
    """The speakers (full names, as the article gives them) of each sentence of one document."""
    return [list(dict.fromkeys(a.speaker for a in atts)) for atts in attribute(doc_sentences)]


# ---------------------------------------------------------------- one sentence


def _sentence(doc, mem: _Memory, i: int) -> list[Attribution]:
    found: list[Attribution] = []
    for tok in doc:
        if _is_cue(tok) and tok.dep_ != "amod" and not _hedged(tok):
            subjects = _subjects(tok)
            for subj in subjects:
                name = _who(subj, doc, mem, i)
                if name:
                    s, e = _reported(tok, doc)
                    found.append(Attribution(name, tok.lemma_.lower(), s, e))
        elif tok.lower_ in _PREP_CUES and any(c.lower_ == "to" for c in tok.children):
            to = next(c for c in tok.children if c.lower_ == "to")
            for obj in (c for c in to.children if c.dep_ == "pobj"):
                for o in [obj, *_conjuncts(obj)]:
                    name = _who(o, doc, mem, i)
                    if name:
                        found.append(Attribution(name, "according to", 0, len(doc.text)))
    return found


def _hedged(verb) -> bool:
    """A cue in the clause of "it is possible / likely / clear that ...": a guess, not a report."""
    head = verb.head
    return verb.dep_ == "ccomp" and head.lemma_ == "be" and any(c.dep_ == "acomp" for c in head.children)


def _takes_issue(tok) -> bool:
    return tok.lemma_ == "take" and any(c.dep_ == "dobj" and c.lower_ == "issue" for c in tok.children)


def _subjects(verb) -> list:
    """The verb's active subjects (and their conjuncts), or those of the cue it continues ("said X,
    adding ...", "said X but stressed Y", "continues to argue"); none for a passive or a clause that
    modifies a noun ("Abe, believed to be ...")."""
    v = verb
    for _ in range(4):
        subj = [c for c in v.children if c.dep_ == "nsubj"]
        if subj:
            return [s for x in subj for s in (x, *_conjuncts(x))]
        if any(c.dep_ in ("nsubjpass", "expl", "csubj") for c in v.children) or v.head is v:
            return []
        if v.dep_ == "xcomp" or (v.dep_ in ("conj", "advcl") and _is_cue(v.head)):
            v = v.head
            continue
        return []
    return []


def _is_cue(tok) -> bool:
    return tok.lemma_.lower() in SPEECH_LEMMAS and tok.pos_ in ("VERB", "AUX") or _takes_issue(tok)


def _conjuncts(tok) -> list:
    return [c for c in tok.children if c.dep_ == "conj"] + [
        x for c in tok.children if c.dep_ == "conj" for x in _conjuncts(c)]


def _reported(verb, doc) -> tuple[int, int]:
    """The reported span: the verb's clausal or direct object, else the whole sentence."""
    for c in verb.children:
        if c.dep_ in ("ccomp", "xcomp", "dobj"):
            sub = list(c.subtree)
            return sub[0].idx, sub[-1].idx + len(sub[-1].text)
    return 0, len(doc.text)


def _ent(tok):
    return next((e for e in tok.doc.ents if e.start <= tok.i < e.end), None)


def _who(tok, doc, mem: _Memory, i: int) -> str | None:
    """The name a subject stands for, or None (a thing, a plural, a role nobody was named with)."""
    low = tok.lower_
    if low in _PRONOUNS:
        before = [e for e in doc.ents if e.end <= tok.i and _person(e)]
        if before:
            return _full(before[-1].text, mem)
        return mem.target if i - mem.target_at <= 3 else None
    if low in _RELATIVE and tok.head.dep_ == "relcl":
        return _who(tok.head.head, doc, mem, i) if tok.head.head.pos_ in ("PROPN", "NOUN") else None
    ent = _ent(tok)
    if ent is not None and _person(ent):
        return _full(ent.text, mem)
    for c in tok.children:  # "Foreign Minister Sergey Lavrov" headed by its title
        ce = _ent(c) if c.dep_ in ("appos", "compound") else None
        if ce is not None and _person(ce):
            return _full(ce.text, mem)
    if low in _ROLE_CLASSES or _role_head(tok):
        return _role(tok, mem)
    if low in _ORG_HEADS:  # "the Kremlin's press service"; "the press service": the one named last
        named = any(t.pos_ == "PROPN" for t in tok.subtree if t.i < tok.i)
        if not named:
            return mem.orgs.get(low)
        mem.orgs[low] = _phrase(tok)
        return mem.orgs[low]
    if tok.pos_ == "PROPN" and low not in ("we", "i", "they"):
        name = ent.text if ent is not None and ent.label_ not in ("NORP", "DATE", "CARDINAL") else _phrase(tok)
        name = _HONORIFIC.sub("", re.sub(r"^(?:the|The)\s+", "", name))
        full = _full(name, mem)
        if len(name.split()) >= 2 and ent is not None and ent.label_ in ("WORK_OF_ART", "PERSON", "ORG") \
                and all(w[:1].isupper() for w in name.split()):
            mem.persons.add(full)  # a two-word proper name speaking (NER reads "Oleg Kazakov" after a quote as a title)
        return full
    return None


def _person(ent) -> bool:
    """A PERSON the small NER found that is one (not "Izvestia" in "told Izvestia", nor "Russia's Tass
    news agency"): capitalised words, not the addressee of "tell"."""
    if ent.label_ != "PERSON" or not all(w[:1].isupper() for w in ent.text.replace("’s", "").split()):
        return False
    root = ent.root
    return not (root.dep_ in ("dobj", "dative") and root.head.lemma_ == "tell")


def _role_head(tok) -> bool:
    """'the head of the Ministry of Foreign Affairs': a role named through what it heads."""
    return tok.lower_ == "head" and any(c.dep_ == "prep" for c in tok.children)


_NATION = re.compile(r"\b(Russian|Japanese|Chinese|American|Ukrainian)\b", re.I)


def _role(tok, mem: _Memory) -> str | None:
    """The person a role noun stands for ("the Russian minister", "the diplomat"): of those named
    with a title of its class (and not another nationality), the one named or heard last."""
    phrase = _phrase(tok, with_preps=_role_head(tok))
    if tok.dep_ == "conj":  # "the Japanese Prime Minister and Foreign Minister"
        phrase = f"{_phrase(tok.head)} {phrase}"
    if _role_head(tok) or tok.lower_ == "minister":
        classes = [c for c, rx in _TITLE_CLASSES if rx.search(phrase)][:1]
    else:
        classes = list(_ROLE_CLASSES.get(tok.lower_, ()))
    nation = _NATION.search(phrase)
    want = nation.group(1).lower() if nation else ""
    fits = {p for c in classes for p, nat in mem.by_class.get(c, []) if not want or not nat or nat == want}
    return max(fits, key=lambda p: mem.seen.get(p, 0)) if fits else None


def _phrase(tok, with_preps: bool = False) -> str:
    """The noun phrase a head word ends (determiners, possessives, modifiers; its 'of ...' too), as
    the sentence writes it."""
    keep = [t.i for t in tok.subtree if t.i <= tok.i and t.dep_ != "punct"]
    if with_preps:
        keep += [t.i for c in tok.children if c.dep_ == "prep" and c.i > tok.i for t in c.subtree]
    first = tok.i
    while first - 1 in keep:  # the words running up to the head, without a clause set off before them
        first -= 1
    last = max(i for i in keep if i >= tok.i)
    return tok.doc[first : last + 1].text


def _full(name: str, mem: _Memory) -> str:
    """A name in its fullest form seen so far ("Lavrov" -> "Sergey Lavrov"), honorifics dropped."""
    name = _HONORIFIC.sub("", name.replace("’s", "").removesuffix("'s")).strip()
    sur = name.split()[-1].lower() if name.split() else ""
    known = mem.full.get(sur)
    if known and (len(known.split()), len(known)) > (len(name.split()), len(name)):
        return known
    return name


# ---------------------------------------------------------------- the article's memory


def _remember_people(doc, mem: _Memory, i: int) -> None:
    """Record each person named: the fullest name per surname, the titles it is given, and whom a
    later "he" means (a person who is a subject here)."""
    for e in doc.ents:
        if not _person(e):
            continue
        name = _HONORIFIC.sub("", e.text.replace("’s", "").removesuffix("'s")).strip()
        if not name:
            continue
        sur = name.split()[-1].lower()
        known = mem.full.get(sur, "")
        if (len(name.split()), len(name)) >= (len(known.split()), len(known)):  # "Viktor Kuzminkov" over "V. Kuzminkov"
            mem.full[sur] = name
        full = mem.full[sur]
        mem.persons.add(full)
        mem.last_person = full
        mem.saw(full)
        title = _title(e)
        nation = _NATION.search(title)
        classes = [c for c, rx in _TITLE_CLASSES if rx.search(title)][:1]
        if not classes and re.search(r"\bcounterpart\b", title, re.I):  # "his Japanese counterpart Taro Kono"
            classes = [c for c, people in mem.by_class.items() if people][-1:]
        for c in classes:
            mem.by_class.setdefault(c, []).append((full, nation.group(1).lower() if nation else ""))
        if e.root.dep_ in ("nsubj", "nsubjpass", "ROOT"):
            mem.target, mem.target_at = full, i
    for tok in doc:  # "the prime minister wants ...": a role nobody was named with stops "he" reaching back
        if tok.dep_ == "nsubj" and tok.head.dep_ == "ROOT" and (tok.lower_ in _ROLE_CLASSES or _role_head(tok)) \
                and _role(tok, mem) is None:
            mem.target, mem.target_at = None, i


def _title(ent) -> str:
    """The title a mention carries: the title words just before it ("Russian Deputy Foreign
    Minister"), or the head of its apposition ("Viktor Kuzminkov, a senior fellow at ...": "senior
    fellow"; "the head of the Center for Japanese Studies" with what it heads)."""
    doc = ent.doc
    words = []
    k = ent.start - 1
    while k >= 0 and len(words) < 6 and doc[k].pos_ in ("PROPN", "NOUN", "ADJ") and doc[k].ent_type_ not in (
            "PERSON", "GPE", "ORG") or (k >= 0 and doc[k].ent_type_ == "NORP" and len(words) < 6):
        words.insert(0, doc[k].text)
        k -= 1
    root = ent.root
    appos = [c for c in root.children if c.dep_ == "appos"]
    if root.dep_ == "appos":
        appos.append(root.head)
    for a in appos:
        words += [t.text for t in a.subtree if t.i <= a.i and t.dep_ in ("compound", "amod", "det") or t.i == a.i]
        if a.lower_ in ("head", "chief", "director"):
            words += [t.text for c in a.children if c.dep_ == "prep" for t in c.subtree]
    return " ".join(words)


# ---------------------------------------------------------------- across sentences


def _spread_quotes(texts: list[str], out: list[list[Attribution]]) -> None:
    """A quote the splitter cut: its sentences belong to the attribution that closes it, and a quote
    an attributed sentence opens runs on (as its speaker's) to where it closes."""
    for i in range(len(texts) - 1, 0, -1):
        if out[i] and _closes(texts[i]):
            for j in _opening(texts, i):
                if not out[j]:
                    out[j] = [Attribution(a.speaker, "quote", 0, len(texts[j])) for a in out[i]]
    for i, text in enumerate(texts):
        if not out[i] or not _leaves_open(text) or re.match(r"^[\"“«„'‘—–-]", text):
            continue  # (a sentence that opens with the quote closes it at its attribution, whatever the mark)
        for j in range(i + 1, min(i + 5, len(texts))):
            if out[j] or any(q in texts[j] for q in "«»") or (texts[j].count('"') and not _closes_quote(texts[j])):
                break
            out[j] = [Attribution(a.speaker, "quote", 0, len(texts[j])) for a in out[i]]
            if _closes_quote(texts[j]):
                break


def _closes(text: str) -> bool:
    """``attribution``'s test, and a closing mark typed after a space (', "writes Kuzminkov.')."""
    return _closes_quote(text) or bool(re.match(r'[^"“”]*[,.!?]\s"[a-z]', text)) and text.count('"') % 2 == 1


def _opening(texts: list[str], i: int, reach: int = 3) -> range:
    """The sentences before ``texts[i]`` that the quote it closes spans (``attribution.quote_opening``)."""
    for j in range(i - 1, max(i - 1 - reach, -1), -1):
        if re.match(r"^[\"“«„'‘—–-]", texts[j].lstrip()) and open_quote(texts[j]):
            return range(j, i)
        if any(q in texts[j] for q in '"“”«»'):
            break
    return range(0)


def _leaves_open(text: str) -> bool:
    """Whether a sentence ends inside a quote it opened ('Lavrov said: "We are ready.')."""
    if open_quote(text):
        return True
    return text.count('"') % 2 == 1 and not _closes_quote(text) or text.count("“") > text.count("”")


def _rules_fallback(texts: list[str], out: list[list[Attribution]], mem: _Memory) -> None:
    """Where the parse finds no speaker, the rules' verdict for each person the article names."""
    for full in sorted(mem.persons):
        surname = full.split()[-1]
        for i, flag in enumerate(statement_flags(texts, surname)):
            if flag and not out[i]:
                out[i].append(Attribution(full, "rules", 0, len(texts[i])))
