"""Phrases like the competition's: phone numbers, URLs, addresses and names for the train split,
short English sentences for the supplemental split. 1–31 characters, mean ≈ 18; over a few
thousand phrases every one of the 59 characters occurs."""

from __future__ import annotations

import numpy as np

from fingerspell.synthetic.handshapes import LETTERS

MAX_PHRASE = 31
# The demo's model read the held-out SILFA frames at 0.86 as the generator's own words and 0.65 as
# random letters: it had learnt the vocabulary (BENCHMARKS.md, "honest development sets").
MADE_UP_SHARE = 0.35

WORDS = """
able acid aged also area army away baby back ball band bank base bath bear beat been beer bell
belt best bird blow blue boat body bomb bond bone book boom born boss both bowl bulk burn bush
busy call calm came camp card care case cash cast cell chat chip city club coal coat code cold
come cook cool cope copy core cost crew crop dark data date dawn days dead deal dear debt deep
deny desk dial diet disc disk does done door dose down draw drew drop drug dual duke dust duty
each earn ease east easy edge else even ever evil exit face fact fail fair fall farm fast fate
fear feed feel feet fell felt file fill film find fine fire firm fish five flat flow food foot
form fort four free from fuel full fund gain game gate gave gear gene gift girl give glad goal
goes gold golf gone good gray grew grey grow gulf hair half hall hand hang hard harm hate have
head hear heat held hell help here hero high hill hire hold hole holy home hope host hour huge
hung hunt hurt idea inch into iron item jack jane jean john join jump jury just keen keep kent
kept kick kill kind king knee knew know lack lady laid lake land lane last late lead left less
life lift like line link list live load loan lock long look lord lose loss lost love luck made
mail main make male many mark mass matt meal mean meat meet menu mere mike mile milk mill mind
mine miss mode mood moon more most move much must name navy near neck need news next nice nick
nine none nose note okay once only onto open oral over pace pack page paid pain pair palm park
part pass past path peak pick pink pipe plan play plot plug plus poll pool poor port post pull
pure push quiz race rail rain rank rare rate read real rear rely rent rest rice rich ride ring
rise risk road rock role roll roof room root rose rule rush ruth safe said sake sale salt same
sand save seat seed seek seem seen self sell send sent sept ship shop shot show shut sick side
sign site size skin slip slow snow soft soil sold sole some song soon sort soul spot star stay
step stop such suit sure take tale talk tall tank tape task team tech tell tend term test text
than that them then they thin this thus till time tiny told tone took tool tour town tree trip
true tune turn twin type unit upon used user vary vast very vice view vote wage wait wake walk
wall want ward warm wash wave ways weak wear week well went were west what when wide wife wild
will wind wine wing wire wise wish with wood word wore work yard yeah year your zero zone quick
jazz fizz buzz quiz zinc oxen pixel vortex kayak mojo juju
""".split()
FIRST_NAMES = """
james mary robert patricia john jennifer michael linda david elizabeth william barbara richard
susan joseph jessica thomas sarah charles karen chris nancy daniel lisa matthew betty anthony
sandra mark ashley donald kim steven emily paul donna andrew michelle joshua carol kenneth amanda
kevin melissa brian deborah george laura timothy rebecca ronald sharon jason cynthia edward kathy
jeffrey amy ryan angela jacob helen gary anna nicholas brenda eric pamela jonathan emma stephen
nicole larry samantha justin katherine scott christine brandon debra benjamin rachel samuel
carolyn gregory janet alexander maria frank olivia patrick heather raymond diane jack julie
dennis joyce jerry victoria tyler kelly aaron ruth jose lauren adam christina henry joan nathan
evelyn douglas judith zachary megan peter andrea kyle cheryl noah hannah ethan jacqueline
""".split()
LAST_NAMES = """
smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez
gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white harris
sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill
flores green adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips
evans turner diaz parker cruz edwards collins reyes stewart morris morales murphy cook rogers
gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos kim cox ward richardson
watson brooks chavez wood james bennett gray mendoza ruiz hughes price alvarez castillo sanders
patel myers long ross foster jimenez
""".split()
STREET_SUFFIXES = ["street", "road", "avenue", "lane", "drive", "court", "way", "hill", "blvd",
                   "st", "rd", "ave", "place", "circle", "trail", "park"]  # fmt: skip
TLDS = ["com", "org", "net", "edu", "io", "co", "us", "pl", "de", "uk", "gov", "info", "me"]
SENTENCE_TEMPLATES = [
    "{a} {b} {c}", "the {a} is {b}", "i {a} the {b}", "where is the {a}?", "{a} {b}!",
    "it's a {a} {b}", "{a}, {b} and {c}", "do you {a} {b}?", "my {a} {b}", "please {a} it",
    "we {a}; they {b}", "{a} or {b}?", "no {a}, no {b}", "he said {a}", "what a {a}!",
]  # fmt: skip


class PhraseGenerator:
    """Draws phrases from a numpy Generator; `split` picks the train or supplemental style."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def pick(self, items):
        return items[int(self.rng.integers(len(items)))]

    def word(self) -> str:
        """A vocabulary word, or for `MADE_UP_SHARE` of them a random string of 3–9 letters: real
        domains and street names are in no list, and a reader must read every letter."""
        if self.rng.random() < MADE_UP_SHARE:
            return "".join(self.rng.choice(list(LETTERS), int(self.rng.integers(3, 10))))
        return self.pick(WORDS)

    def digits(self, n: int) -> str:
        return "".join(str(d) for d in self.rng.integers(0, 10, n))

    def phone(self) -> str:
        style = self.rng.random()
        body = f"{self.digits(3)}-{self.digits(3)}-{self.digits(4)}"
        if style < 0.55:
            return body
        if style < 0.7:
            return f"+{self.rng.integers(1, 99)} {body}"
        if style < 0.82:
            return f"({self.digits(3)}) {self.digits(3)}-{self.digits(4)}"
        if style < 0.92:
            return f"{self.digits(3)}.{self.digits(3)}.{self.digits(4)}"
        return f"*{self.digits(2)} {body}"

    def url(self) -> str:
        word = self.word()
        name = word if self.rng.random() < 0.6 else f"{word}-{self.word()}"
        host = f"{name}.{self.pick(TLDS)}"
        style = self.rng.random()
        if style < 0.25:
            return f"https://www.{host}"
        if style < 0.45:
            return f"www.{host}/{self.word()}"
        if style < 0.6:
            return f"{self.pick(FIRST_NAMES)}_{self.digits(2)}@{host}"
        if style < 0.7:
            return f"{host}/~{self.word()}"
        if style < 0.8:
            return f"{host}/{self.word()}?q={self.word()}"
        if style < 0.86:
            return f"{host}/a={self.digits(1)}&b={self.digits(2)}"
        if style < 0.9:
            return f"{host}/#{self.word()}"
        if style < 0.93:
            return f"{host}/{self.word()}%20{self.digits(1)}"
        if style < 0.96:
            return f"{host}/{self.word()}[{self.digits(1)}"  # the map has no "]"
        return f"http://{host}:{self.digits(4)}"

    def address(self) -> str:
        number = self.digits(int(self.rng.integers(1, 6))).lstrip("0") or "1"
        street = self.pick(WORDS if self.rng.random() < 0.5 else LAST_NAMES)
        text = f"{number} {street} {self.word()} {self.pick(STREET_SUFFIXES)}"
        extra = self.rng.random()
        if extra < 0.15:
            text += f" #{self.digits(int(self.rng.integers(1, 4)))}"
        elif extra < 0.25:
            text += f", apt {self.digits(2)}"
        return text

    def name(self) -> str:
        first, last = self.pick(FIRST_NAMES), self.pick(LAST_NAMES)
        style = self.rng.random()
        if style < 0.6:
            return f"{first} {self.pick(FIRST_NAMES)[0]} {last}"
        if style < 0.72:
            return f"{last}-{self.pick(LAST_NAMES)}"
        if style < 0.82:
            return f"{first} o'{last}"
        if style < 0.9:
            return f"{first} {last} & co"
        if style < 0.95:
            return f"{first} ${self.digits(2)}"
        return first

    def sentence(self) -> str:
        template = self.pick(SENTENCE_TEMPLATES)
        return template.format(a=self.pick(WORDS), b=self.pick(WORDS), c=self.pick(WORDS))

    def letters(self) -> str:
        """A few short phrases, as the real data has (single letters, short words)."""
        return self.pick(WORDS)[: int(self.rng.integers(1, 5))]

    def phrase(self, split: str) -> str:
        if split == "supplemental":
            text = self.sentence()
        else:
            kinds = (self.phone, self.url, self.address, self.name, self.letters)
            weights = np.array([0.24, 0.38, 0.24, 0.12, 0.02])
            text = kinds[int(self.rng.choice(len(kinds), p=weights))]()
        return text[:MAX_PHRASE].strip() or "a"
