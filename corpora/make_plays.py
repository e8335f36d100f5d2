#!/usr/bin/env python3
"""Generate plays.txt: invented verse plays for character-level language models.

Every word list, name, template and rule below was written for charrnn; the
script reads no input text.  The output has the *form* of a printed play
(title, persons of the play, act and scene headings, stage directions in
brackets, ALL-CAPS speaker names followed by a colon, verse and prose speeches
separated by blank lines), so a character-level model has structure to learn
at several scales.

    python corpora/make_plays.py                      # rewrite corpora/plays.txt
    python corpora/make_plays.py --chars 200000 --seed 7 -o /tmp/small.txt
    python corpora/make_plays.py -o -                 # write to stdout

Standard library only.  Output depends only on --chars and --seed: the random
generator is seeded explicitly and nothing iterates over a set or relies on
hash order, so the defaults reproduce the committed file byte for byte.
Generation stops at the end of the scene in which --chars is reached, and the
play in progress is closed there, so the output is a little longer than --chars.
"""

import argparse
import re
import random
import sys
from pathlib import Path

DEFAULT_CHARS = 1_000_000
DEFAULT_SEED = 1606
DEFAULT_OUT = Path(__file__).resolve().parent / "plays.txt"


def words(text):
    """Whitespace-separated words, duplicates dropped, first occurrence kept."""
    return list(dict.fromkeys(text.split()))


# ---------------------------------------------------------------------------
# Nouns
# ---------------------------------------------------------------------------

PERSON_NOUNS = words("""
king queen prince princess duke duchess earl countess baron lord lady knight
squire page herald steward servant master mistress soldier captain sergeant
general admiral sentinel guard warder jailer friar priest bishop abbot abbess
nun hermit monk nurse maid maiden widow orphan father mother brother sister
son daughter uncle aunt cousin nephew niece husband wife bride bridegroom
lover sweetheart friend companion comrade enemy foe traitor villain rogue
knave rascal coward braggart fool jester clown stranger pilgrim traveller
wanderer exile beggar merchant trader sailor mariner fisherman shepherd
shepherdess farmer ploughman miller baker brewer smith blacksmith tailor
weaver carpenter mason cobbler butcher vintner innkeeper tapster ostler groom
huntsman forester gardener woodman cook scholar tutor doctor physician lawyer
judge magistrate counsellor senator ambassador envoy courtier gentleman
gentlewoman noble peasant citizen townsman villager neighbour kinsman
kinswoman heir heiress ward infant child boy girl youth lad lass gallant
suitor rival champion hero murderer thief robber pirate outlaw usurper tyrant
prophet soothsayer witch wizard sorcerer poet player minstrel musician singer
dancer painter archer bowman horseman rider messenger courier spy scout
watchman bellman ferryman boatman cardinal chaplain sexton gravedigger
mourner host guest lodger landlord tenant creditor debtor usher porter
chamberlain secretary clerk scribe treasurer swordsman duellist shipwright
goldsmith jeweller apothecary midwife laundress seamstress spinner milkmaid
swineherd goatherd cowherd drover pedlar tinker juggler acrobat fiddler
piper drummer trumpeter standard-bearer lieutenant ensign corporal marshal
constable beadle alderman mayor burgher pensioner hostage prisoner
captive slave pilot helmsman boatswain cabin-boy stowaway
smuggler poacher highwayman cutpurse vagabond madman dotard miser spendthrift
glutton drunkard gossip flatterer sycophant informer conspirator rebel
loyalist patriot martyr saint sinner penitent novice deacon almoner
""")

THING_NOUNS = words("""
crown sceptre throne sword dagger blade rapier spear lance shield helmet bow
arrow quiver banner flag standard drum trumpet horn bell lute harp pipe flute
viol ring bracelet necklace jewel pearl ruby diamond emerald sapphire locket
brooch chain key lock casket chest coffer purse coin ducat letter note scroll
book volume seal ribbon glove handkerchief veil mask cloak mantle gown robe
hood cap hat boot shoe slipper girdle belt sash cup goblet chalice flagon
bottle cask barrel jug bowl dish plate platter spoon knife loaf cake apple
pear plum cherry fig grape orange lemon candle lantern torch lamp taper mirror
portrait picture painting statue tapestry carpet curtain pillow cushion bed
couch chair stool table bench desk door window shutter ladder rope cord thread
needle spindle wheel cart wagon coach carriage saddle bridle spur whip oar
sail anchor mast rudder compass map chart clock hourglass sundial pen quill
feather garland wreath nosegay posy basket box bag sack bundle parcel gift
token pledge present potion vial medicine coffin urn relic cross rosary
prayer-book coronet diadem orb mace axe hatchet hammer anvil chisel spade hoe
scythe sickle plough pitchfork whistle rattle ball toy puppet doll kite cage
collar leash trap net hook pail bucket kettle pot pan cauldron ladle trinket
bauble medal warrant charter deed will testament license passport ledger
almanac calendar songbook hymnal psalter breviary dice card chess
board tankard beaker pitcher ewer basin towel napkin tablecloth apron cradle
blanket quilt coverlet sheet shroud bier hearse litter sedan barge boat
skiff galley ship frigate pinnace raft oarlock halberd pike musket pistol
cannon culverin powder-horn bullet cudgel staff crook crutch cane wand rod
buckle button pin thimble comb brush fan parasol umbrella
""")

PLACE_NOUNS = words("""
garden chamber hall court castle tower gate bridge forest wood grove orchard
field meadow pasture moor heath hill mountain valley vale glen dale cliff cave
grotto river stream brook shore beach harbour haven port quay wharf dock
island isle chapel church abbey cathedral cloister monastery convent cell
dungeon prison keep battlement rampart wall moat drawbridge courtyard gallery
library study closet bedchamber parlour kitchen cellar buttery pantry stable
kennel barn granary mill inn tavern alehouse market marketplace square street
lane alley road highway path crossroads village town city capital palace
mansion manor house cottage hut lodge cabin tent camp fortress citadel fort
garrison barracks armoury treasury vault crypt tomb churchyard graveyard
vineyard farm hamlet parish province kingdom realm duchy county shire country
frontier border coast lake pond pool fountain well marsh fen bog desert
wilderness plain park warren terrace balcony stair threshold doorway porch
arbour bower pavilion maze shrine temple sanctuary almshouse hermitage
lighthouse watchtower belfry steeple hedgerow ditch ford ferry
causeway promontory headland bay creek cove estuary ravine gorge pass summit
ridge slope thicket copse clearing glade spinney bank weir millpond
""")

ANIMAL_NOUNS = words("""
lark nightingale owl raven crow rook dove pigeon swan goose duck heron hawk
falcon eagle wren robin sparrow swallow thrush blackbird magpie jay cuckoo
peacock cock hen wolf fox hound dog cat mouse rat hare rabbit deer stag hart
hind doe fawn boar bear lion tiger leopard panther ape monkey horse mare
stallion colt foal pony ass mule ox bull cow calf sheep lamb ram ewe goat kid
pig swine serpent snake adder viper toad frog lizard worm beetle spider fly
bee wasp butterfly moth gnat ant cricket grasshopper fish salmon trout pike
eel whale dolphin crab oyster unicorn dragon griffin phoenix bat badger otter
weasel stoat squirrel hedgehog mole vole kingfisher woodpecker curlew plover
lapwing gull cormorant pelican vulture kestrel merlin goshawk partridge
pheasant quail grouse starling linnet finch goldfinch bullfinch nightjar
""")

PLANT_NOUNS = words("""
rose lily violet daisy primrose cowslip marigold pansy tulip poppy thistle
nettle bramble briar thorn fern oak elm beech birch willow yew cypress cedar
pine laurel myrtle holly hawthorn rowan linden poplar vine hazel orchid reed
rush weed flower blossom bud leaf petal seed root branch bough twig stem trunk
acorn berry daffodil bluebell harebell foxglove columbine snowdrop carnation
gillyflower honeysuckle woodbine eglantine hyacinth crocus iris lotus aspen
alder chestnut walnut sycamore hornbeam juniper olive palm mulberry quince
""")

NATURE_COUNT = words("""
moon sun star planet comet cloud wind breeze gale storm tempest whirlwind wave
tide billow current ripple stone rock pebble boulder flame spark ember shadow
rainbow sunbeam moonbeam raindrop snowflake dewdrop icicle thunderbolt
""")

NATURE_MASS = words("""
rain snow hail sleet frost dew mist fog thunder lightning fire water earth air
smoke dust ice grass moss ivy heather clover lavender rosemary thyme rue mint
sand mud clay foam spray sunlight moonlight starlight twilight daylight
""")

METALS = words("gold silver iron steel bronze brass copper pewter")
FABRICS = words("silk velvet satin linen wool lace damask taffeta ermine leather")
STONES = words("marble ivory ebony amber crystal alabaster coral jet porcelain")
MADE_OF = {}
for _n in words("""crown sceptre throne ring bracelet necklace chain key lock
        casket chest coffer coin cup goblet chalice flagon bowl dish plate
        platter spoon knife candlestick lamp mirror bell trumpet horn helmet
        shield spur coronet diadem orb mace axe cross medal buckle pin thimble
        tankard beaker pitcher ewer basin cage collar anvil"""):
    MADE_OF[_n] = METALS
for _n in words("""cloak mantle gown robe hood cap girdle belt sash glove
        handkerchief veil mask ribbon purse slipper cushion pillow curtain
        tapestry coverlet quilt blanket shroud apron napkin"""):
    MADE_OF[_n] = FABRICS
for _n in words("statue urn tomb box comb fan chess board dice rosary"):
    MADE_OF[_n] = STONES

MATERIAL_NOUNS = words("""
gold silver iron steel bronze brass copper lead marble ivory ebony amber
crystal silk velvet satin linen wool lace leather fur wine ale mead beer bread
honey milk cream butter cheese salt oil wax ink parchment paper vellum pitch
tar pewter alabaster coral jet porcelain damask taffeta ermine sackcloth
""")

ABSTRACT_MASS = words("""
honour grief love hope fear faith duty mercy justice patience pity pride shame
sorrow joy mirth delight pleasure pain anguish despair woe wrath anger rage
fury envy jealousy malice spite hatred scorn contempt disdain vengeance
revenge treason treachery deceit falsehood truth virtue vice guilt innocence
grace glory fame renown fortune fate destiny chance luck danger peril safety
peace war strife discord concord friendship kindness cruelty courage valour
cowardice folly wisdom wit reason madness sense judgement conscience memory
oblivion silence music laughter beauty youth age death life sleep rest
slumber hunger thirst poverty wealth greed ambition power authority majesty
dignity modesty humility chastity constancy loyalty fidelity obedience
rebellion liberty freedom bondage service labour idleness leisure sport
mischief counsel knowledge ignorance learning doubt suspicion trust belief
credit tenderness gentleness sweetness bitterness darkness charity devotion
penance repentance remorse forgiveness pardon heaven hell nature wonder
comfort solace mourning longing yearning melancholy contentment sufferance
dishonour infamy disgrace ruin plenty famine sickness health strength
weakness hardiness boldness meekness kindred
""")

ABSTRACT_COUNT = words("""
oath vow promise secret plot scheme quarrel jest rumour prayer blessing curse
dream thought wish desire question answer riddle tale story song sonnet rhyme
word name deed crime wrong fault error sin sigh groan tear smile kiss embrace
farewell welcome greeting warning message lament ballad verse
omen portent prophecy vision sign grievance complaint
suit petition bargain wager debt bond covenant treaty alliance
rebuke reproach insult compliment flattery
""")

BODY_NOUNS = words("""
hand heart eye tongue brow forehead cheek lip mouth head face neck throat
breast bosom shoulder arm finger thumb knee foot leg soul spirit breath voice
ear chin temple wrist palm heel bone vein tooth tress eyelid
""")

TIME_NOUNS = words("""
morning evening night day hour dawn dusk noon midnight morrow week month year
season spring summer autumn winter harvest sabbath festival feast wedding
funeral coronation christening vigil revel masque tournament hunt
""")

IRREGULAR_PLURALS = {
    "child": "children", "wife": "wives", "midwife": "midwives", "thief": "thieves",
    "hero": "heroes",
    "mouse": "mice", "goose": "geese", "sheep": "sheep", "deer": "deer",
    "swine": "swine", "fish": "fish", "ox": "oxen", "wolf": "wolves",
    "calf": "calves", "leaf": "leaves", "foot": "feet", "tooth": "teeth",
    "trout": "trout", "salmon": "salmon", "knife": "knives", "life": "lives",
    "loaf": "loaves", "half": "halves", "shelf": "shelves", "hoof": "hooves",
    "potato": "potatoes", "echo": "echoes", "volcano": "volcanoes",
    "grotto": "grottoes", "pike": "pike", "kid": "kids", "cross": "crosses",
    "standard-bearer": "standard-bearers", "cabin-boy": "cabin-boys",
    "powder-horn": "powder-horns", "prayer-book": "prayer-books",
    "staff": "staves", "die": "dice", "handkerchief": "handkerchiefs",
    "roof": "roofs", "chief": "chiefs", "dwarf": "dwarves", "scarf": "scarves",
    "elf": "elves", "self": "selves", "sheaf": "sheaves", "wharf": "wharves",
    "ass": "asses", "grass": "grasses", "lass": "lasses", "glass": "glasses",
}


def plural(noun):
    if noun in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[noun]
    if noun.endswith("man") and noun not in ("talisman",):
        return noun[:-3] + "men"
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def article(word):
    """'a' or 'an' for the word that follows the article."""
    w = word.lower()
    if w.startswith(("hour", "honest", "honour", "heir", "herb")):
        return "an"
    if w.startswith(("uni", "use", "usu", "usur", "eu", "one", "ewe", "uto")):
        return "a"
    return "an" if w[0] in "aeiou" else "a"


# ---------------------------------------------------------------------------
# Adjectives and adverbs
# ---------------------------------------------------------------------------

PERSON_ADJ = words("""
noble gentle false cruel wise brave bold honest faithful faithless loyal
disloyal proud humble kind unkind sweet fair foul young old good wicked
valiant gracious courteous rude witty foolish mad merry sad melancholy
jealous envious wretched poor rich lowly mighty royal princely worthy
unworthy vile base villainous treacherous trusty trusted beloved dear weary
sorrowful grieving jovial cheerful virtuous chaste modest fickle constant
careless careful cunning crafty sly simple learned ignorant pious holy
reverend ancient aged venerable tender loving hateful bitter angry furious
desperate banished exiled wandering lost forsaken forlorn lovesick sullen
gallant handsome beautiful lovely comely ugly lean thin tall little great
peevish saucy pert impudent insolent arrogant haughty lordly stout sturdy
drunken sober idle busy dutiful obedient rebellious stubborn wilful wayward
headstrong hasty patient impatient timid fearful fearless dauntless
trembling tired sleepy wakeful thoughtful pensive generous miserly greedy
prodigal thrifty grave solemn giddy gentle-hearted hard-hearted tender-hearted
noble-minded light-footed fair-spoken honey-tongued smooth-faced grey-bearded
unhappy happy lucky unlucky blessed cursed scornful spiteful malicious
merciful pitiless ruthless heartless shameless shameful blameless guiltless
guilty innocent penitent contrite hopeful hopeless joyful joyless woeful
doleful mournful tearful wrathful vengeful boastful bashful artful
""")

THING_ADJ = words("""
golden silver gilded jewelled broken heavy light ancient old new rusty bright
shining glittering precious costly cheap worthless rich plain simple painted
carved sealed secret hidden stolen lost borrowed fatal poisoned bloody empty
full cracked shattered tarnished polished sharp blunt keen deadly crimson
scarlet purple azure white black grey green blue red yellow little great
small large tiny sacred cursed enchanted fine rare strange curious foreign
torn worn faded crumpled folded wooden iron silken velvet woollen leaden
brazen waxen marble ivory ebony crystal pearly jewel-studded gold-embroidered
rose-coloured ink-stained blood-stained sweet-smelling well-worn
""")

PLACE_ADJ = words("""
quiet dark ancient green cold silent lonely empty crowded busy narrow wide
broad deep high lofty low ruined desolate peaceful pleasant shady sunny
moonlit dim gloomy dismal haunted sacred holy royal secret hidden distant far
northern southern eastern western inner outer upper lower great little old
new fair wild barren fruitful fertile frozen misty windy stony rocky sandy
grassy flowery leafy mossy muddy marshy quiet-seeming sun-warmed wind-swept
""")

NATURE_ADJ = words("""
pale bright wild cold warm silver golden gentle cruel dark black white grey
red blushing rosy sweet soft harsh bitter howling roaring raging sighing
weeping falling rising setting dying fading blooming withered drooping wanton
idle restless endless boundless angry calm still silent murmuring whispering
singing swift slow distant lonely wandering fierce hungry sleeping waking
frosty snowy rainy stormy cloudy starry chill icy fiery burning shining
glimmering twinkling trembling fearful gentle-blowing sweet-singing
""")

ABSTRACT_ADJ = words("""
bitter sweet deep secret endless boundless sudden true false great small idle
vain foolish wise just unjust cruel gentle tender hot cold burning ardent
fiery jealous mortal deadly fatal sacred holy heavenly hellish wicked infinite
eternal everlasting brief short long patient sullen sharp keen heavy light
grievous hateful loathsome shameful noble base vile honest perfect pure
simple strange monstrous unnatural natural ancient new old present former
private public open hidden silent quiet wild mad sober bloody dark fair foul
sad merry happy unhappy wretched woeful tedious weary restless sleepless
dreadful fearful wondrous marvellous glorious shameless desperate
""")

BODY_ADJ = words("""
pale trembling weary white fair bloody cold warm gentle tender sweet soft
rosy red wrinkled aged young heavy faithful bleeding wounded idle empty dark
bright tearful steady shaking aching broken breaking proud humble
""")

# Predicate adjectives that read well after "is", "seems", "grows" for people.
PREDICATE_ADJ = words("""
noble gentle false cruel wise brave bold honest faithful loyal proud humble
kind sweet fair young old good wicked valiant gracious mad merry sad jealous
wretched poor rich mighty worthy vile weary sorrowful cheerful virtuous
constant fickle cunning simple pious tender bitter angry desperate banished
lost forsaken forlorn lovesick sullen lovely stubborn hasty patient
impatient fearful fearless pale ill well sick dead alive asleep awake
afraid ashamed content glad sorry free bound undone betrayed deceived
wronged slain wounded married promised sworn forsworn pardoned
""")

# Hand-made similes: an adjective and the things it is "as ... as".
SIMILES = {
    "cold": ["ice", "the winter moon", "a stone", "the grave", "a serpent", "snow"],
    "white": ["snow", "milk", "a lily", "the swan", "a shroud", "ivory"],
    "bright": ["the sun", "a flame", "the morning star", "gold", "a sword"],
    "pale": ["the moon", "a ghost", "ashes", "a candle", "the dawn"],
    "sweet": ["honey", "the rose", "a lark's song", "the spring", "May"],
    "bitter": ["gall", "wormwood", "the north wind", "rue", "salt tears"],
    "black": ["night", "the raven", "pitch", "jet", "ebony", "a crow"],
    "red": ["the rose", "blood", "a coal", "the morning", "a cherry"],
    "true": ["steel", "the compass", "the turtle-dove", "the dawn"],
    "false": ["water", "a mirror", "the wind", "a painted smile"],
    "swift": ["the swallow", "a hawk", "the wind", "an arrow", "thought"],
    "slow": ["the snail", "a funeral", "the winter", "an old ox"],
    "proud": ["a peacock", "the eagle", "a lion", "the sun at noon"],
    "gentle": ["a lamb", "the dove", "the summer rain", "a mother's hand"],
    "fierce": ["a wolf", "the tiger", "a tempest", "the sea"],
    "still": ["a stone", "the grave", "midnight", "a mill-pond"],
    "silent": ["the grave", "a shadow", "the stars", "the moon"],
    "soft": ["silk", "velvet", "down", "the summer air"],
    "hard": ["flint", "iron", "a miser's heart", "the rock"],
    "deep": ["the sea", "a well", "the night", "the grave"],
    "old": ["the hills", "the oak", "time", "the sea"],
    "wise": ["an owl", "a serpent", "the ancients", "Solomon"],
    "mad": ["a March hare", "the moon", "a bedlam", "the wind"],
    "merry": ["a cricket", "a lark", "the month of May", "a wedding"],
    "sad": ["a funeral", "the willow", "a winter dusk", "an owl"],
    "brave": ["a lion", "the sun", "a soldier's drum"],
    "heavy": ["lead", "a stone", "sorrow", "a sleeper's head"],
    "light": ["a feather", "air", "thistledown", "a leaf"],
    "dark": ["the night", "a pit", "a raven's wing", "the grave"],
    "fair": ["the morning", "a lily", "the moon", "the summer"],
    "green": ["grass", "the spring", "an emerald", "envy"],
    "loud": ["thunder", "a trumpet", "the sea", "a bell"],
    "constant": ["the northern star", "the tide", "the sun"],
    "fickle": ["the moon", "the wind", "a weathercock", "fortune"],
    "sharp": ["a razor", "a thorn", "the north wind", "a serpent's tooth"],
    "empty": ["a drum", "a beggar's purse", "the winter sky"],
}

ADVERBS = words("""
softly gently swiftly slowly boldly bravely sadly sweetly bitterly truly
falsely nobly wisely foolishly dearly deeply freely gladly madly idly lightly
heavily quietly loudly proudly humbly meekly kindly cruelly justly coldly
warmly fondly faithfully honestly openly secretly silently patiently eagerly
willingly tenderly fiercely wildly calmly grimly sternly plainly strangely
merrily gaily sorrowfully mournfully woefully wearily hastily rashly
carelessly carefully cunningly craftily sweetly gravely solemnly earnestly
heartily roundly shrewdly nimbly stoutly valiantly courteously graciously
""")

MOTION_ADVERBS = words("""hence hither thither away abroad home apart aside
homeward""")

# ---------------------------------------------------------------------------
# Verbs.  An entry is "base" or "base/past/participle"; a trailing "*" on the
# base doubles the final consonant before -ed and -ing (stop*, begin*).
# ---------------------------------------------------------------------------

IRREGULAR = words("""
arise/arose/arisen awake/awoke/awoken bear/bore/borne beat/beat/beaten
become/became/become begin*/began/begun behold/beheld/beheld bend/bent/bent
bid*/bade/bidden bind/bound/bound bite/bit/bitten bleed/bled/bled
blow/blew/blown break/broke/broken breed/bred/bred bring/brought/brought
build/built/built buy/bought/bought cast/cast/cast catch/caught/caught
choose/chose/chosen cling/clung/clung come/came/come creep/crept/crept
cut*/cut/cut deal/dealt/dealt dig*/dug/dug do/did/done draw/drew/drawn
drink/drank/drunk drive/drove/driven dwell/dwelt/dwelt eat/ate/eaten
fall/fell/fallen feed/fed/fed feel/felt/felt fight/fought/fought
find/found/found flee/fled/fled fling/flung/flung fly/flew/flown
forbid*/forbade/forbidden forget*/forgot/forgotten forgive/forgave/forgiven
forsake/forsook/forsaken forswear/forswore/forsworn freeze/froze/frozen
get*/got/got give/gave/given go/went/gone grind/ground/ground
grow/grew/grown hang/hung/hung have/had/had hear/heard/heard hide/hid/hidden
hit*/hit/hit hold/held/held hurt/hurt/hurt keep/kept/kept kneel/knelt/knelt
know/knew/known lay/laid/laid lead/led/led leap/leapt/leapt leave/left/left
lend/lent/lent let*/let/let lie/lay/lain light/lit/lit lose/lost/lost
make/made/made mean/meant/meant meet/met/met pay/paid/paid put*/put/put
read/read/read rend/rent/rent ride/rode/ridden ring/rang/rung rise/rose/risen
run*/ran/run say/said/said see/saw/seen seek/sought/sought sell/sold/sold
send/sent/sent set*/set/set shake/shook/shaken shed*/shed/shed
shine/shone/shone shoot/shot/shot show/showed/shown shrink/shrank/shrunk
shut*/shut/shut sing/sang/sung sink/sank/sunk sit*/sat/sat slay/slew/slain
sleep/slept/slept slide/slid/slid smite/smote/smitten speak/spoke/spoken
speed/sped/sped spend/spent/spent spin*/spun/spun spread/spread/spread
spring/sprang/sprung stand/stood/stood steal/stole/stolen sting/stung/stung
stride/strode/stridden strike/struck/struck strive/strove/striven
swear/swore/sworn sweep/swept/swept swim*/swam/swum swing/swung/swung
take/took/taken teach/taught/taught tear/tore/torn tell/told/told
think/thought/thought throw/threw/thrown tread/trod/trodden
understand/understood/understood wake/woke/woken wear/wore/worn
weave/wove/woven weep/wept/wept win*/won/won wind/wound/wound
withdraw/withdrew/withdrawn withhold/withheld/withheld wring/wrung/wrung
write/wrote/written sow/sowed/sown strew/strewed/strewn mistake/mistook/mistaken
overthrow/overthrew/overthrown undo/undid/undone foretell/foretold/foretold
""")

VERB_TABLE = {}
for _entry in IRREGULAR:
    _base, _past, _pp = _entry.split("/")
    _dbl = _base.endswith("*")
    VERB_TABLE[_base.rstrip("*")] = (_past, _pp, _dbl)


def _split_entry(entry):
    dbl = entry.endswith("*")
    return entry.rstrip("*"), dbl


REGULAR_DOUBLING = set()


def verbs(text):
    out = []
    for entry in words(text):
        base, dbl = _split_entry(entry.split("/")[0])
        if dbl:
            REGULAR_DOUBLING.add(base)
        out.append(base)
    return list(dict.fromkeys(out))


# Verbs whose object is a person.
VT_PERSON = verbs("""
love trust betray pardon forgive serve obey greet kiss embrace wed* marry
banish follow seek summon warn comfort deceive flatter mock scorn curse bless
praise honour slander wrong injure slay kill murder spare rescue free
imprison accuse defend guard fear pity hate despise envy admire remember
forget know see hear find meet await call thank woo court charm tempt
persuade entreat beseech implore command bid counsel* advise teach instruct
reward punish chide scold rebuke blame excuse acquit condemn judge crown
depose exile welcome entertain feed shelter lodge nurse tend heal wound
strike smite chase pursue hunt catch seize arrest bind release deliver save
protect shield cherish adore defy challenge fight outwit* beguile bewitch
haunt torment vex trouble grieve please delight amuse anger provoke offend
insult abuse ruin undo destroy appoint dismiss employ recall acknowledge
disown deny bury mourn lament visit attend accompany escort lead guide
expect forsake overthrow waylay ambush poison bribe ransom knight summon
""")

# Verbs whose object is a thing.
VT_THING = verbs("""
take bring carry keep hold break bury hide find seek lose give send fetch
steal wear sell buy mend burn open close seal read write drop* lift raise
throw cast draw sharpen polish gild paint carve weave spin sew fold unfold
wrap* tear kiss touch grasp clutch snatch seize grip* return restore deliver
lend borrow pawn pledge offer present bestow receive accept refuse keep
guard watch examine search weigh count fill empty drink taste share divide
shatter crack bend fasten tie untie bind unbind unlock lock hang plant
gather pluck pick scatter strew pour spill light kindle quench snuff
conceal reveal discover display show wield brandish sheathe forge ring
""")

# Verbs whose object is an abstract noun.
VT_ABSTRACT = verbs("""
feel bear know show hide seek lose find deny prove fear love hate remember
forget pity mourn keep offer pledge promise taste suffer endure forswear
break teach learn understand doubt believe confess reveal conceal betray
utter speak whisper earn deserve merit win gain buy sell restore cherish
kill quench kindle stir* awaken rouse soothe ease relieve mend heal scorn
mock despise forgive pardon nourish banish hoard squander spend owe repay
""")

# Verbs whose object is a place.
VT_PLACE = verbs("""
leave enter guard defend besiege storm burn seek visit haunt cross abandon
forsake rule govern keep hold search sweep build ruin reach approach behold
survey tread flee
""")

# Verbs whose object is a creature, a plant, or anything in nature.
VT_ANIMAL = verbs("hunt chase catch feed tame ride kill slay")
VT_PLANT = verbs("pluck gather plant cut* water")
VT_NATURE = VT_ANIMAL + VT_PLANT + verbs("""
see hear behold watch follow curse bless praise fear love find seek
""")

# Intransitive verbs of motion, followed by a directional phrase.
VI_MOTION = verbs("""
go come ride walk sail wander fly flee run return hasten travel* journey
march stray roam creep steal hurry rush climb descend retire withdraw depart
advance retreat stumble stagger hie
""")

# Intransitive verbs for people.
VI_PERSON = verbs("""
weep sigh sleep dream wake laugh smile pray die live sing dance kneel
tremble wait linger rest mourn grieve rejoice repent despair fight quarrel*
jest speak listen hearken blush frown gaze muse ponder complain murmur
whisper groan sob* faint swoon stand sit* watch
""")

# Intransitive verbs for nature.
VI_NATURE = verbs("""
shine blow rage howl fall flow fade burn glow gleam glitter sparkle rise set
sink roar sigh weep wander creep tremble drift hover sleep wake die spread
melt freeze
""")

# Intransitive verbs for creatures and for plants.
VI_ANIMAL = verbs("""
sing fly wander creep sleep wake die cry call howl roam graze feed hunt
tremble hide weep mourn flee rest nest hover
""")
VI_PLANT = verbs("""
bloom wither fade grow die sleep wake tremble shake sigh spread bud* flourish
""")

# Intransitive verbs for abstract subjects (my grief grows).
VI_ABSTRACT = verbs("""
grow fade die sleep wake burn live speak wait linger sicken wither bloom
sink rise triumph fail falter prosper
""")

# Verbs that take a that-clause.
V_SAY = verbs("""
say swear vow think know believe fear hope dream suppose grant confess
protest warrant hear see feel perceive find understand remember doubt
""")


def _ing(base):
    if base in ("die", "lie", "tie", "vie", "hie"):
        return base[:-2] + "ying"
    if base in VERB_TABLE and VERB_TABLE[base][2] or base in REGULAR_DOUBLING:
        return base + base[-1] + "ing"
    if base.endswith("e") and not base.endswith(("ee", "oe", "ye")) and len(base) > 2:
        return base[:-1] + "ing"
    return base + "ing"


def _s(base):
    if base == "have":
        return "has"
    if base.endswith(("s", "x", "z", "ch", "sh", "o")):
        return base + "es"
    if base.endswith("y") and base[-2] not in "aeiou":
        return base[:-1] + "ies"
    return base + "s"


def _ed(base):
    if base in REGULAR_DOUBLING:
        return base + base[-1] + "ed"
    if base.endswith("e"):
        return base + "d"
    if base.endswith("y") and base[-2] not in "aeiou":
        return base[:-1] + "ied"
    return base + "ed"


def verb_form(base, form):
    """form: base, s (third singular present), past, pp, ing."""
    if form == "base":
        return base
    if form == "s":
        return _s(base)
    if form == "ing":
        return _ing(base)
    if base in VERB_TABLE:
        past, pp, _ = VERB_TABLE[base]
        return past if form == "past" else pp
    return _ed(base)



TIME_ADJ = words("""
cold long weary bright dark fair sweet bitter late early golden merry sad
dreary gentle stormy quiet blessed cursed happy woeful
""")

# ---------------------------------------------------------------------------
# Names.  All invented for these plays; a few carry accents so that the corpus
# exercises characters outside ASCII.
# ---------------------------------------------------------------------------

MALE_NAMES = words("""
Almeric Casimir Tobin Anselm Corvin Evander Florian Gaspard Ivo Jasper Lucan
Orlan Roderic Silvan Ulric Valerian Wendell Aldous Desmond Gilbert Hugo
Ambrose Leander Matthias Piers Rainald Theobald Urien Vittor Warrick Lothar
Emeric Ferrand Halvard Idris Jerrold Marcel Octave Pellam Raimund Severin
Thaddeus Wystan Aurélien Félix Noël Joaquín Jérôme Estève Anatole Crispin
Drogo Godric Hamon Ingram Jocelin Kenric Leofric Merrick Norbert Oswin
Randolph Swithin Alaric Berengar Corentin Evrard Florent Gauvain Hervé
Ilario Julien Lancelin Mathurin Pascal Quentin Rémy Sylvain Thibault Yves
""")

FEMALE_NAMES = words("""
Béatrice Hélène Inès Zoë Anaïs Renée Mélisande Céleste Thérèse Adela Brisana
Elspeth Flavia Giselle Honoria Isaura Jessamy Katrine Liesel Marguerite
Oriana Rosamund Seraphine Tamsin Violetta Winifred Ysolde Amarante Blanche
Clémence Delphine Eglantine Fleurette Ghislaine Isabeau Jacinta Léonie
Mirabel Noémie Ottilie Philippa Rosalie Sidonie Théodora Albina Corisande
Dorothea Elvire Floriane Gwenna Hildegarde Lucinde Maud Odile Pernelle
Sabine Solange Viviane Yolande Aveline Bérénice Edwina Gisèle
""")

COMMON_MALE = words("""
Hob Dickon Wat Gib Jenkin Simkin Hodge Ned Kit Colin Tibbot Dobbin Noll
Jack Robin Lob Davy Perkin Nab Hankin Rafe Gregory Watkin
""")

COMMON_FEMALE = words("""
Nan Joan Moll Peg Madge Bess Tib Cicely Marian Nell Meg Sib Kate Alison
Jenny Mab Bridget Parnel
""")

CLERGY_NAMES = words("""
Anselm Clement Hubert Benet Aldhelm Gervase Ambrose Barnabas Cuthbert
Dunstan Jérôme Lorcan Ninian Osmund
""")

REALMS = words("""
Valdoria Montserre Arlesca Brennock Esmerrin Fallowmere Gravenhold Hesperan
Lissamont Morvaine Norreth Ostrevant Pellandine Quillaine Rossmere Sarvenne
Tarrowdale Wyndholm Corvalle Dunmarrow Aubépine Miravel Belcastro Orvanne
Sainte-Élise Mont-Aurèle Caldermoor Ashgrove Thornwick Vellaine
""")

# ---------------------------------------------------------------------------
# Syllables and capitals
# ---------------------------------------------------------------------------

_VOWELS = re.compile(r"[aeiouyàâäéèêëïîôöùûü]+")


def syllables(word):
    w = re.sub(r"[^a-zàâäéèêëïîôöùûüñç']", "", word.lower())
    if not w:
        return 0
    n = len(_VOWELS.findall(w))
    if n > 1 and w.endswith("e") and not w.endswith(("le", "ee", "ie", "ye", "é")):
        n -= 1
    if n > 1 and w.endswith("ed") and not w.endswith(("ted", "ded")):
        n -= 1
    if n > 1 and w.endswith("es") and not w.endswith(
            ("ses", "zes", "ches", "shes", "ges", "ces", "xes")):
        n -= 1
    return max(1, n)


def cap(text):
    """Upper-case the first letter (skipping a leading apostrophe or bracket)."""
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1:]
    return text


# ---------------------------------------------------------------------------
# Characters
# ---------------------------------------------------------------------------

class Character:
    def __init__(self, title, heading, name, gender, rank, role, ref, desc):
        self.title = title          # "Duke", "Lady", "" for commoners
        self.heading = heading      # as printed above a speech: "DUKE CASIMIR"
        self.entry = heading        # as named in "[Enter ...]"
        self.name = name            # as spoken: "Casimir" (None for a Messenger)
        self.gender = gender        # "m" or "f"
        self.rank = rank            # "royal", "noble", "clergy", "common"
        self.role = role            # "ruler", "heir", "lover", "villain", ...
        self.ref = ref              # as spoken of: "the Duke", "Lord Almeric"
        self.desc = desc            # for the list of persons
        self.lover = None

    @property
    def he(self):
        return "he" if self.gender == "m" else "she"

    @property
    def him(self):
        return "him" if self.gender == "m" else "her"

    @property
    def his(self):
        return "his" if self.gender == "m" else "her"

    def name_possessive(self):
        """"Béatrice's", "the Duke's"."""
        return self.ref + "'s"


# ---------------------------------------------------------------------------
# The phrase grammar
# ---------------------------------------------------------------------------

NOUNS = {
    "person": PERSON_NOUNS, "thing": THING_NOUNS, "place": PLACE_NOUNS,
    "animal": ANIMAL_NOUNS, "plant": PLANT_NOUNS, "sky": NATURE_COUNT,
    "element": NATURE_MASS, "material": MATERIAL_NOUNS,
    "abstract": ABSTRACT_MASS, "count": ABSTRACT_COUNT, "body": BODY_NOUNS,
    "time": TIME_NOUNS,
}
MASS_KINDS = ("element", "material", "abstract")
ADJS = {
    "person": PERSON_ADJ, "thing": THING_ADJ, "place": PLACE_ADJ,
    "animal": NATURE_ADJ, "plant": NATURE_ADJ, "sky": NATURE_ADJ,
    "element": NATURE_ADJ, "material": THING_ADJ, "abstract": ABSTRACT_ADJ,
    "count": ABSTRACT_ADJ, "body": BODY_ADJ, "time": TIME_ADJ,
}
NATURE_KINDS = ("animal", "plant", "sky", "sky", "element")

LOC_PREPS = words("""in at upon beneath within before beside by near under
behind beyond""")
DIR_PREPS = ["to", "into", "toward", "from", "through", "across", "along",
             "beyond", "unto", "out of"]

EXCLAIMS = ["Alas!", "Alack!", "Fie, fie!", "Peace!", "Away!", "Hark!",
            "Soft!", "Hush!", "Look!", "Behold!", "Come, come!", "Nay!",
            "O heavens!", "Mercy!", "Enough!", "Go to!", "Out upon it!",
            "Help, ho!", "Well!", "Alack the day!", "O me!", "Ah me!",
            "What, ho!", "Now, by my troth!", "God's mercy!", "Heaven forbid!",
            "O villainy!", "O wonder!", "Marry, and amen!", "So, so.",
            "Patience!", "Oh, peace!", "Lo!", "Ha!", "Well said!",
            "A plague upon it!", "Fie upon it!", "O day of woe!"]
OPENERS = ["Marry,", "Why,", "Nay,", "Ay,", "Now,", "Well,", "O,", "Then,",
           "Come,", "Faith,", "Indeed,", "In truth,", "By my troth,",
           "Believe me,", "I tell you,", "Mark me,", "Look you,", "Hear me,",
           "Forsooth,", "In faith,", "Truly,", "Alas,", "Good faith,",
           "Trust me,", "Sure,", "Yet,", "And yet,",
           "But soft,", "See,", "Listen,"]
ANSWERS_YES = ["Ay", "Yes", "Ay, truly", "Even so", "Most true", "It is so",
               "Ay, marry", "Indeed", "Ay, and more", "Truly"]
ANSWERS_NO = ["No", "Nay", "Not I", "Never", "I know not", "Not so",
              "By no means", "Not yet", "I cannot tell", "Nay, not I",
              "Heaven forbid", "I think not", "Not for the world"]
OATHS = ["by my honour", "by this hand", "by heaven", "by the moon",
         "by my life", "by my soul", "by all the saints", "by this light",
         "by my faith", "by the stars above", "upon my word",
         "by my mother's grave", "by the holy rood", "by the sun"]
# Time phrases that suit a future or present clause, and a past one.
TIME_FUTURE = ["at dawn", "by moonlight", "ere the morning", "this night",
               "tomorrow", "before the sun be up", "at midnight",
               "when the bell tolls", "ere the cock crow", "at break of day",
               "by candlelight", "before the feast", "after the wedding",
               "within the hour", "ere the moon be full", "when the tide turns",
               "at evensong", "by noon", "this very hour", "in a little while",
               "ere the year be out", "when the war is done", "upon the sabbath",
               "three days hence", "before the snow", "on midsummer eve",
               "at the coronation", "when the harvest comes in", "anon",
               "ere long", "tonight"]
TIME_PAST = ["at dawn", "by moonlight", "last night", "yesterday", "at midnight",
             "in the spring", "long ago", "at break of day", "by candlelight",
             "before the feast", "after the wedding", "an hour since",
             "at evensong", "when we were young", "in the winter",
             "three days since", "on midsummer eve", "at the coronation",
             "ere the war began", "when the old king died", "this morning",
             "not an hour ago", "in my youth"]


_ZIPF = {}


def zipf_cum(n):
    if n not in _ZIPF:
        total, cum = 0.0, []
        for k in range(n):
            total += 1.0 / (k + 5) ** 1.05
            cum.append(total)
        _ZIPF[n] = cum
    return _ZIPF[n]


# Stock sentences of conversation.  Slots: {a} an address to the hearer,
# {C} another person of the play, {he} {him} {his} {He} {His} that person's
# pronouns, {place} {thing} {abstract} {noun} {kin} {adj} {sadj} {realm}
# {ruler} {n} {hour} {past} {future} {oath} {clause} {verb} {motion}.
STOCK = [
    "Let us go in.", "Come, let us to the {place}.",
    "I will go to the {place} and see what {he} will say.",
    "I do not like this {thing}.", "What is the matter, {a}?",
    "You are welcome to {realm}, {a}.", "I thank you, {a}.",
    "Stay, here comes {C}.", "Leave me, {a}.", "This is the {thing} I spoke of.",
    "My heart is heavy, {a}.", 
    "{C} is in the {place}, and will not come forth.", "Go, bid {C} come to me.",
    "I have a letter from {C}.", "It is too late to {verb} now.",
    "I fear {he} is false.", "Trust {him} not, {a}.",
    "{He} loves you, {a}, and you know it.", "Would I had never seen {him}!",
    "I pray you, pardon me.", "Let it be so.", "Be it so, {a}.",
    "I will not stay.", "Then I must go alone.",
    "Farewell, {a}; we shall meet again.", "What, all alone?",
    "Good night, {a}.", "The night is cold, and the wind is high.",
    "Hark, the bell!", "Who knocks?", "I saw {him} in the {place} {past}.",
    "{He} was weeping, and {he} would not tell me why.",
    "What should I do?", "Do as you will.", "You are too {sadj}, {a}.",
    "I am not {sadj}, though you think me so.", "Nay, hear me out.",
    "I have said too much already.", "No more of this.",
    "Speak no more of {C}.", "I know {him} well.",
    "You do not know {him} as I do.", "There is some {abstract} in this.",
    "I smell a plot.", "I cannot tell.",
    "Then find {him}, and bring {him} hither.", "It shall be done, {a}.",
    "Give it me.", "Keep it, then, and say nothing.",  "Be merry, {a}; all shall be well.",
    "Would it were so!", "I swear it, {oath}.", 
    "The {ruler} is coming.", "Make way for the {ruler}!",
    "Where is your {kin}?", "My {kin} is dead these {n} years.",
    "God rest {his} soul.", "You look pale, {a}.",
    "I have not slept these {n} nights.", "Go to bed, {a}, and sleep.",
    "Sleep will not come.", "Then let us begin.", 
    "I love {C} more than my life.", "Why, what's the matter?", "Look where {he} comes!",
    "Hide yourself; {he} must not see you.", "Peace, {he} comes.",
    "{C} shall know of this.", "Say nothing of this to {C}.",
    "I would not for the world that {C} should hear it.",
    "{C} is a {adj} {gnoun}, and I will prove it.",
    "I never loved {him}, nor ever shall.", "I have loved {him} long.",
    "{His} {thing} was found in the {place}.",
    "The {ruler} would speak with you.", "I come from the {ruler}.",
    "What would the {ruler} with me?", "I go, {a}.", "Go, and return {future}.",
    "I will meet you in the {place} {future}.", "Do not fail me.",
    "I will not fail you, {a}.", "Here is my hand.", "Take it, and my heart with it.",
    "O, that I were a {noun}!", "I am a poor {snoun}, {a}.",
    "We are betrayed!", "Draw, and defend yourself!", "Put up your sword.",
    "Shame on you, {a}!", "It cannot be.", "It is too true.", "Alas, poor {Cname}!",
    "I had rather {verb} than {verb2}.", "I will {motion} to {realm} {future}.",
    "Let me see the {thing}.",  "Call {C} hither.",
    "I'll fetch {him}, {a}.", 
    "There is more in this than you know.", "Tell me all.",
    "I am sworn to silence.", "Then I will ask {C}.",
    "Mark what I say, and do it.", "I hear, and will obey.",
    "I dreamed of {C} last night.", "Dreams are but {abstract}, {a}.",
     "Here we must part.",
     "Then God be with you.",
]
# Stock questions, each with the replies that answer it.  The person {C} of
# the question is the person of the reply.
STOCK_QA = [
    ("Tell me, where is {C}?", ["I know not where {he} is.",
                                "{C} is in the {place}, and will not come forth.",
                                "I saw {him} in the {place} {past}."]),
    ("Where have you been?", ["In the {place}, {a}, with {C}.",
                              "Walking in the {place}, {a}.", "Nowhere, {a}."]),
    ("What did {C} say?", ["{He} said that {clause}.",
                           "Nothing, {a}; {he} only wept.",
                           "{He} bade me tell you {he} will come {future}."]),
    ("Whose {thing} is this?", ["It is {C}'s; I found it in the {place}.",
                                "I know not, {a}. It was in the {place}."]),
    ("Where did you find it?", ["In {C}'s {place}, under a stone.",
                                "Upon the stair, {a}.", "{C} gave it me."]),
    ("Why do you weep?", ["I weep for {C}.", "For nothing, {a}.",
                          "Because {C} is gone."]),
    ("How long have you been here?", ["Since {past}.", "But a little while, {a}.",
                                      "An hour, or more."]),
    ("What hour is it?", ["Upon the stroke of {hour}.", "Past {hour}, {a}.",
                          "Near midnight."]),
    ("Is all ready?", ["All is ready, {a}.", "Not yet, {a}; {C} is not come."]),
    ("How does {C}?", ["Well, I thank you, and commends {him} to you.",
                       "Ill, {a}; {he} keeps {his} bed.",
                       "{He} is merry, and asks for you."]),
    ("Does {C} love you?", ["I think {he} does.", "I fear {he} does not.",
                            "{He} swears {he} does."]),
    ("I have been wronged.", ["By whom?", "How so, {a}?"]),
    ("How now, what news?", ["None good, {a}.", "{C} is come from {realm}.",
                             "The {ruler} is angry, {a}."]),
    ("Who killed {C}?", ["I know not; {he} was found so.",
                         "Ask the {ruler}, {a}."]),
    ("What, will you leave me so?", ["I must, {a}.", "Only for an hour, {a}."]),
    ("Is this the {place}?", ["This is the place.", "No, {a}; it lies further on."]),
    ("Who comes here?", ["'Tis {C}, {a}.", "A friend.", "I cannot see, {a}."]),
    ("I would speak with you, {a}.", ["Speak; I am bound to hear.",
                                      "Not now, {a}.", "With all my heart."]),
    ("Is it {C}?", ["It is {C}, {a}.", "No, {a}; it is but the wind."]),
    ("Shall I call {C}?", ["Ay, call {him}.", "No; let {him} sleep."]),
    ("I am glad to see you well.", ["And I you, {a}.", "I thank you, {a}."]),
    ("Did you see {C}?", ["I saw {him} in the {place} {past}.",
                          "Not since {past}."]),
]
# Stock sentences after which someone enters, or someone leaves.
ARRIVALS = ["Stay, here comes {C}.", "Look where {he} comes!", "Peace, {he} comes.",
            "'Tis {C}, {a}.", "It is {C}, {a}."]
HEARER_LEAVES = ["Leave me, {a}.", "Go, bid {C} come to me.", "Call {C} hither.",
                 "Then find {him}, and bring {him} hither.", "Go to bed, {a}, and sleep."]
SPEAKER_LEAVES = ["I will not stay.", "Then I must go alone.", "I go, {a}.",
                  "I'll fetch {him}, {a}.", "Farewell, {a}; we shall meet again."]
STOCK_ANSWER_ONLY = {"By whom?": ["By {C}.", "I dare not say."]}
MASC_NOUNS = words("""man knave villain gentleman fool rogue lord friend coward
fellow rascal gallant soldier traitor knight""")
FEM_NOUNS = words("""woman lady gentlewoman friend creature maid widow soul
mistress wench shrew""")
PLURAL_PREDICATES = words("""friends enemies fools cousins strangers brothers
traitors cowards lovers exiles beggars servants prisoners rivals kinsmen
soldiers pilgrims gentlemen neighbours""")
DYING = ["O, I am slain!", "I die, {a}.", "Forgive me, {a}.", "The rest is dark.",
         "My {kin}, I come.", "Remember me to {C}.", "Farewell, {realm}!",
         "O, I have deserved it!", "Heaven have mercy on my soul!",
         "Tell {C} I loved {him}.", "My eyes grow dim.", "So, so; it is done.",
         "I did but seek my own.", "Let no man weep for me."]
STOCK_KIN = ["father", "mother", "brother", "sister", "master", "mistress",
             "husband", "wife", "uncle", "son", "daughter"]
STOCK_NUM = ["two", "three", "seven", "ten", "twelve", "many", "five"]
STOCK_HOUR = ["twelve", "one", "two", "three", "nine", "ten", "eleven", "six"]
_SLOT = re.compile(r"\{(\w+)\}")


class Grammar:
    """Builds sentences for one speaker addressing another, in one play."""

    def __init__(self, rng, play):
        self.rng = rng
        self.play = play
        self.speaker = None
        self.hearer = None
        self.present = []
        self.qa = None          # set by sentence(): the replies a stock question expects
        self.gender = None      # set by subject(): the subject's gender, if known
        self.arriving = None    # set by fill(): a person announced as coming
        self.leaving = None     # set by fill(): a person sent away or going

    # -- helpers ----------------------------------------------------------

    def pick(self, seq):
        """Long word lists are drawn with Zipf-like weights, so the words
        written first (the common ones) recur and the rare ones stay rare."""
        if len(seq) < 40:
            return self.rng.choice(seq)
        return self.rng.choices(seq, cum_weights=zipf_cum(len(seq)))[0]

    def chance(self, p):
        return self.rng.random() < p

    def weighted(self, pairs):
        items = [p[0] for p in pairs]
        weights = [p[1] for p in pairs]
        return self.rng.choices(items, weights)[0]

    def others(self):
        return [c for c in self.play.cast if c is not self.speaker]

    # -- noun phrases -------------------------------------------------------

    def possessive(self):
        return self.weighted([("my", 10), ("thy", 4), ("your", 6), ("his", 4),
                              ("her", 4), ("our", 4), ("their", 2)])

    def np(self, kind, number=None, adj_p=0.35, of_p=0.12, det=True):
        """A noun phrase of the given kind; returns (text, number)."""
        rng = self.rng
        play = self.play
        mass = kind in MASS_KINDS
        if number is None:
            number = "sg" if mass or self.chance(0.72) else "pl"
        # Theme nouns of the play recur, so a play is about something.
        if kind == "thing" and number == "sg" and self.chance(0.10):
            noun = play.theme_thing
        elif kind == "abstract" and self.chance(0.12):
            noun = play.theme_abstract
        else:
            noun = self.pick(NOUNS[kind])
        word = plural(noun) if number == "pl" else noun
        adj = ""
        if self.chance(adj_p):
            adj = self.pick(ADJS[kind])
            if self.chance(0.08) and kind != "material":
                adj = self.pick(["most", "so", "too", "very", "right"]) + " " + adj
        head = (adj + " " + word).strip()
        tail = ""
        if self.chance(of_p):
            tail = self.of_phrase(kind, noun)
        if not det:
            return head + tail, number
        if kind in ("thing", "place", "body", "abstract", "count") and self.chance(0.05):
            who = self.pick(self.others())
            return who.name_possessive() + " " + head + tail, number
        if mass:
            d = self.weighted([("", 30), ("the", 14), ("my", 8), ("thy", 3),
                               ("your", 4), ("his", 3), ("her", 3), ("our", 3),
                               ("such", 3), ("this", 4), ("no", 2)])
            if kind == "material":
                d = self.weighted([("", 30), ("the", 8), ("fine", 2), ("good", 2)])
        elif number == "sg":
            d = self.weighted([("the", 40), ("a", 14), ("this", 8), ("that", 5),
                               (self.possessive(), 26), ("yon", 2),
                               ("every", 1), ("no", 2)])
        else:
            d = self.weighted([("the", 36), ("these", 6), ("those", 5),
                               (self.possessive(), 22), ("all the", 4),
                               ("no", 2), ("some", 3), ("a thousand", 1),
                               ("many", 2), ("", 6)])
        if d == "a":
            d = article(head)
        return ((d + " " if d else "") + head + tail), number

    def of_phrase(self, kind, noun):
        if kind == "thing":
            if noun in MADE_OF:
                return " of " + self.pick(MADE_OF[noun])
            return ""
        if kind == "person" and noun in ("king", "queen", "prince", "princess",
                                         "duke", "duchess", "earl", "countess",
                                         "lord", "lady", "bishop", "baron"):
            return " of " + self.pick(REALMS)
        if kind == "place" and noun in ("kingdom", "realm", "duchy", "county",
                                        "province", "city", "town", "capital",
                                        "court", "harbour", "coast", "shire"):
            return " of " + self.pick(REALMS)
        if kind in ("abstract", "count"):
            return " of " + self.np("person", adj_p=0.3, of_p=0)[0]
        if kind in ("sky", "element"):
            return " of " + self.pick(["heaven", "the north", "the morning",
                                       "the evening", "the night", "the south",
                                       "the winter", "the summer", self.play.realm])
        if kind == "body":
            return " of " + self.np("person", adj_p=0.3, of_p=0)[0]
        if kind == "person" and noun in ("keeper", "warder", "captain", "master",
                                         "mistress", "steward", "porter", "lady",
                                         "lord", "gardener", "watchman"):
            return " of the " + self.pick(PLACE_NOUNS)
        return ""

    def person_np(self, number=None):
        """A person: a common noun, a member of the cast, or a pronoun-free ref."""
        if number != "pl" and self.chance(0.35):
            c = self.pick(self.others())
            return c.ref, "sg"
        return self.np("person", number)

    def nature_np(self, number=None, with_kind=False):
        kind = self.pick(NATURE_KINDS)
        text, num = self.np(kind, number)
        return (text, num, kind) if with_kind else (text, num)

    def place_pp(self, directional=False):
        prep = self.pick(DIR_PREPS if directional else LOC_PREPS)
        if self.chance(0.12):
            prep = self.pick(["to", "toward", "from", "through", "into", "unto"]
                             if directional else ["in", "near", "beyond", "in"])
            return prep + " " + self.pick(REALMS)
        if self.chance(0.06):
            return prep + " " + self.play.theme_place
        return prep + " " + self.np("place", "sg", adj_p=0.3, of_p=0.08)[0]

    def nature_pp(self):
        prep = self.pick(["beneath", "under", "beside", "by", "among", "in",
                          "against", "upon"])
        return prep + " " + self.nature_np()[0]

    def time_phrase(self, tense="pres"):
        return self.pick(TIME_PAST if tense in ("past", "perf") else TIME_FUTURE)

    # -- verbs ----------------------------------------------------------------

    def subject(self):
        """(text, person): person is I, we, you, thou, 3s or 3p.  Sets
        self.gender to the subject's gender where it is known."""
        kind = self.weighted([("I", 30), ("we", 6), ("you", 11), ("thou", 5),
                              ("he", 7), ("she", 7), ("they", 4), ("cast", 12),
                              ("np", 18)])
        self.gender = {"he": "m", "she": "f"}.get(kind)
        if kind == "I" and self.speaker is not None:
            self.gender = self.speaker.gender
        if kind in ("you", "thou") and self.hearer is not None:
            self.gender = self.hearer.gender
        if kind in ("he", "she"):
            return kind, "3s"
        if kind == "they":
            return "they", "3p"
        if kind == "cast":
            c = self.pick(self.others())
            self.gender = c.gender
            return c.ref, "3s"
        if kind == "np":
            text, num = self.np("person", adj_p=0.4, of_p=0.08)
            return text, "3s" if num == "sg" else "3p"
        return kind, kind

    def be(self, person, tense):
        if tense == "past":
            return {"I": "was", "3s": "was", "thou": "wast"}.get(person, "were")
        if tense == "fut":
            aux = "shall" if person in ("I", "we") and self.chance(0.6) else "will"
            if person == "thou":
                aux = self.pick(["wilt", "shalt"])
            return aux + " be"
        if tense == "modal":
            return self.modal(person) + " be"
        return {"I": "am", "3s": "is", "thou": "art"}.get(person, "are")

    def modal(self, person):
        m = self.pick(["must", "may", "might", "should", "would", "could",
                       "cannot", "shall", "will", "dare not", "must not",
                       "shall not", "will not", "would not", "need not"])
        if person == "thou":
            m = self.pick(["must", "mayst", "shouldst", "wouldst", "couldst",
                           "canst not", "shalt", "wilt", "shalt not", "wilt not"])
        return m

    def conj(self, person, base, tense):
        """Finite verb for the subject; tense one of pres, past, fut, modal,
        perf, prog, neg, dneg."""
        if person == "thou" and tense in ("pres", "past", "neg"):
            tense = self.pick(["fut", "modal", "perf", "dost"])
        if tense == "pres":
            return verb_form(base, "s" if person == "3s" else "base")
        if tense == "past":
            return verb_form(base, "past")
        if tense == "fut":
            return self.be(person, "fut")[:-3] + " " + base
        if tense == "modal":
            return self.modal(person) + " " + base
        if tense == "perf":
            aux = {"3s": "has", "thou": "hast"}.get(person, "have")
            if self.chance(0.15):
                aux += " not"
            return aux + " " + verb_form(base, "pp")
        if tense == "prog":
            return self.be(person, "pres") + " " + verb_form(base, "ing")
        if tense == "neg":
            return verb_form(base, "s" if person == "3s" else "base") + " not"
        if tense == "dost":
            return "dost " + base
        # dneg
        aux = {"3s": "does", "thou": "dost"}.get(person, "do")
        if self.chance(0.4):
            aux = "did"
        return aux + " not " + base

    def tense(self):
        return self.weighted([("pres", 26), ("past", 22), ("fut", 14),
                              ("modal", 14), ("perf", 10), ("prog", 5),
                              ("neg", 6), ("dneg", 3)])

    def obj_pronoun(self, exclude=()):
        return self.pick([p for p in ("me", "him", "her", "them", "us", "you", "thee")
                          if p not in exclude])

    def verb_object(self, vclass, exclude=()):
        if vclass == "person":
            if self.chance(0.22):
                return self.obj_pronoun(exclude)
            return self.person_np()[0]
        if vclass == "thing":
            if self.chance(0.06):
                return "it"
            return self.np("thing")[0]
        if vclass == "abstract":
            return self.np(self.pick(["abstract", "abstract", "count"]))[0]
        if vclass == "place":
            if self.chance(0.15):
                return self.pick(REALMS)
            return self.np("place", adj_p=0.3)[0]
        return self.nature_np()[0]

    def predicate(self, person, tense=None, depth=0):
        """Everything after the subject of a clause."""
        tense = tense or self.tense()
        be_tense = tense if tense in ("pres", "past", "fut", "modal") else \
            self.pick(["pres", "pres", "past"])
        exclude = {"I": ("me",), "we": ("us",), "you": ("you", "thee"),
                   "thou": ("thee", "you"), "3p": ("them",)}.get(person, ())
        frame = self.weighted([("person", 18), ("thing", 15), ("abstract", 13),
                               ("place", 5), ("nature", 5), ("motion", 12),
                               ("intrans", 10), ("adj", 11), ("noun", 4),
                               ("simile", 3), ("that", 4 if depth == 0 else 0)])
        if frame in ("person", "thing", "abstract", "place", "nature"):
            verbs_ = {"person": VT_PERSON, "thing": VT_THING,
                      "abstract": VT_ABSTRACT, "place": VT_PLACE,
                      "nature": VT_NATURE}[frame]
            verb = self.pick(verbs_)
            v = self.conj(person, verb, tense)
            if frame == "nature":
                kind = "animal" if verb in VT_ANIMAL else \
                    "plant" if verb in VT_PLANT else self.pick(NATURE_KINDS)
                text = v + " " + self.np(kind)[0]
            else:
                text = v + " " + self.verb_object(frame, exclude)
            if frame == "thing" and self.chance(0.2):
                text += " " + self.place_pp()
            elif frame == "person" and self.chance(0.12):
                text += " " + self.pick(["for", "with"]) + " " + \
                    self.np(self.pick(["abstract", "count"]), adj_p=0.4, of_p=0)[0]
        elif frame == "motion":
            text = self.conj(person, self.pick(VI_MOTION), tense) + " " + \
                (self.pick(MOTION_ADVERBS) if self.chance(0.15) else
                 self.place_pp(directional=True))
        elif frame == "intrans":
            text = self.conj(person, self.pick(VI_PERSON), tense)
            r = self.rng.random()
            if r < 0.3:
                text += " " + self.pick(ADVERBS)
            elif r < 0.55:
                text += " " + self.place_pp()
            elif r < 0.7 and tense in ("past", "fut", "modal", "perf"):
                text += " " + self.time_phrase(tense)
        elif frame == "adj":
            text = self.be(person, be_tense)
            text += " " + self.weighted([("", 6), ("not " if " not" not in text else "", 1),
                                         ("most ", 1), ("too ", 1), ("so ", 1),
                                         ("right ", 1)])
            text += self.pick(PREDICATE_ADJ)
        elif frame == "noun":
            plural_subj = person in ("we", "you", "they", "3p")
            text = self.be(person, be_tense if be_tense != "modal" else "pres") + " "
            if plural_subj:
                noun = self.rng.choice(PLURAL_PREDICATES)
                if self.chance(0.5):
                    noun = self.pick(PERSON_ADJ) + " " + noun
                text += self.pick(["", "", "no ", "all "]) + noun
            else:
                gender = self.gender
                if gender is None:
                    head = self.np("person", "sg", adj_p=0.6, of_p=0.15, det=False)[0]
                else:
                    noun = self.rng.choice(MASC_NOUNS if gender == "m" else FEM_NOUNS)
                    if self.chance(0.6):
                        noun = self.pick(PERSON_ADJ) + " " + noun
                    head = noun
                text += self.pick([article(head) + " ", "the ", "no "]) + head
        elif frame == "simile":
            adj = self.pick(sorted(SIMILES))
            text = self.be(person, be_tense if be_tense != "fut" else "pres") + \
                " as " + adj + \
                " as " + self.pick(SIMILES[adj])
        else:
            verb = self.pick(V_SAY)
            v = self.conj(person, verb, self.pick(["pres", "pres", "past", "perf"]))
            text = v + " that " + self.clause(depth=depth + 1)
        if frame not in ("adj", "noun", "simile", "that", "intrans") and self.chance(0.12):
            text += " " + self.pick(ADVERBS)
        return text

    def clause(self, tense=None, depth=0):
        r = self.rng.random()
        if r < 0.10:
            return self.nature_clause(tense)
        if r < 0.16:
            return self.abstract_clause(tense)
        subj, person = self.subject()
        return subj + " " + self.predicate(person, tense, depth)

    def nature_clause(self, tense=None):
        text, num, kind = self.nature_np(with_kind=True)
        person = "3s" if num == "sg" else "3p"
        if self.chance(0.25):
            adj = self.pick(NATURE_ADJ)
            t = tense if tense in ("pres", "past", "fut") else self.pick(["pres", "past"])
            return text + " " + self.be(person, t) + " " + adj
        t = tense or self.pick(["pres", "pres", "past", "fut", "prog"])
        verbs_ = {"animal": VI_ANIMAL, "plant": VI_PLANT}.get(kind, VI_NATURE)
        text += " " + self.conj(person, self.pick(verbs_), t)
        r = self.rng.random()
        if r < 0.45:
            text += " " + self.place_pp()
        elif r < 0.65:
            text += " " + self.pick(ADVERBS)
        elif r < 0.75 and t != "prog":
            text += " " + self.time_phrase(t)
        return text

    def abstract_clause(self, tense=None):
        text, _ = self.np("abstract", adj_p=0.3)
        if self.chance(0.4):
            t = tense if tense in ("pres", "past", "fut") else self.pick(["pres", "past"])
            return text + " " + self.be("3s", t) + " " + self.pick(ABSTRACT_ADJ)
        t = tense or self.pick(["pres", "past", "fut", "perf"])
        text += " " + self.conj("3s", self.pick(VI_ABSTRACT), t)
        if self.chance(0.3):
            text += " " + self.pick(["in", "within"]) + " " + \
                self.np("body", "sg", adj_p=0.2, of_p=0)[0]
        return text

    # -- addresses -------------------------------------------------------------

    def address(self, hearer=None):
        h = hearer or self.hearer
        s = self.speaker
        if h is None:
            return self.pick(["friends", "good sirs", "masters", "my masters",
                              "gentlemen", "good people"])
        n = h.name
        if s is not None and s.lover is h:
            return self.pick(["my love", "sweet love", "dear heart", "my sweet",
                              "my dear", "my " + n, "sweet " + n, n])
        if h.role == "ruler":
            if h.gender == "m":
                opts = ["my lord", "my liege", "your grace", "good my lord",
                        "my sovereign", "dread lord", "my gracious lord"]
            else:
                opts = ["madam", "your grace", "gracious madam", "my liege",
                        "my sovereign lady", "good madam"]
            if h.title in ("King", "Queen"):
                opts.append("your majesty")
            if s is not None and s.role == "heir":
                opts = ["father", "my lord", "good father"] if h.gender == "m" \
                    else ["mother", "madam", "good mother"]
            return self.pick(opts)
        if h.rank == "clergy":
            return self.pick(["good father", "holy father", "reverend sir",
                              h.title + " " + n, "father"] if h.gender == "m" else
                             ["good mother", "holy mother", "reverend mother",
                              "Mother " + n])
        if h.rank in ("noble", "royal"):
            if s is not None and s.rank == "common":
                return self.pick(["my lord", "your worship", "sir", "master"]
                                 if h.gender == "m" else
                                 ["madam", "your ladyship", "my lady", "mistress"])
            if h.gender == "m":
                return self.pick(["my lord", "sir", "good " + n, "noble " + n,
                                  h.ref, "my lord " + n, n, "cousin",
                                  "gentle " + n, "good my lord"])
            return self.pick(["madam", "lady", "sweet " + n, "fair " + n,
                              "Lady " + n, "gentle lady", n, "dear lady",
                              "good madam"])
        if n is None:
            return self.pick(["sirrah", "fellow", "good fellow", "friend",
                              "my friend"])
        if h.role == "fool":
            return self.pick(["fool", "sirrah", "good fool", n, "knave",
                              "you rascal", "wise fool"] if h.gender == "m" else
                             ["fool", "good fool", n, "mistress " + n, "wise fool",
                              "you baggage"])
        if h.gender == "m":
            return self.pick(["sirrah", "good fellow", n, "friend", "fellow",
                              "good " + n, "honest " + n])
        if h.role == "nurse":
            return self.pick(["nurse", "good nurse", n, "good " + n])
        return self.pick(["good woman", n, "mistress " + n, "good " + n,
                          "sweet " + n])

    def with_address(self, sentence, end):
        """Put an address at the front or end of a sentence, sometimes."""
        r = self.rng.random()
        if r < 0.16:
            return cap(self.address()) + ", " + sentence + end
        if r < 0.30:
            return cap(sentence) + ", " + self.address() + end
        return cap(sentence) + end

    # -- sentences -------------------------------------------------------------

    def someone(self):
        """A person of the play to talk about, preferably one not on stage."""
        absent = [c for c in self.others() if c not in self.present and
                  c not in self.play.dead and c.name is not None]
        pool = absent or [c for c in self.others() if c is not self.hearer] or self.others()
        return self.rng.choice(pool)

    def stock(self):
        """A stock sentence, or a stock question; returns (text, qa) where qa
        is (answers, person) when the sentence expects a particular reply."""
        if self.chance(0.3):
            question, answers = self.rng.choice(STOCK_QA)
            who = self.someone()
            return self.fill(question, who), (answers, who)
        return self.fill(self.rng.choice(STOCK), self.someone()), None

    def fill(self, template, who):
        if template in ARRIVALS:
            self.arriving = who
        elif template in HEARER_LEAVES:
            self.leaving = self.hearer
        elif template in SPEAKER_LEAVES:
            self.leaving = self.speaker
        core = lambda seq, n=60: self.rng.choice(seq[:n])
        gendered = MASC_NOUNS if who.gender == "m" else FEM_NOUNS
        own = MASC_NOUNS if self.speaker is None or self.speaker.gender == "m" \
            else FEM_NOUNS
        fill = {
            "a": lambda: self.address(),
            "C": lambda: who.ref, "Cname": lambda: who.name or who.ref[4:],
            "he": lambda: who.he, "him": lambda: who.him,
            "his": lambda: who.his, "He": lambda: cap(who.he),
            "His": lambda: cap(who.his),
            "place": lambda: core(PLACE_NOUNS), "thing": lambda: core(THING_NOUNS),
            "abstract": lambda: core(ABSTRACT_MASS, 80),
            "noun": lambda: core(PERSON_NOUNS, 80), "kin": lambda: self.pick(STOCK_KIN),
            "gnoun": lambda: self.rng.choice(gendered), "snoun": lambda: self.rng.choice(own),
            "adj": lambda: core(PERSON_ADJ), "sadj": lambda: core(PREDICATE_ADJ, 50),
            "realm": lambda: self.pick(REALMS), "ruler": lambda: self.play.ruler_title,
            "n": lambda: self.pick(STOCK_NUM), "hour": lambda: self.pick(STOCK_HOUR),
            "past": lambda: self.pick(TIME_PAST), "future": lambda: self.pick(TIME_FUTURE),
            "oath": lambda: self.pick(OATHS), "clause": lambda: self.clause(tense="past"),
            "verb": lambda: core(VI_PERSON, 40), "verb2": lambda: core(VI_PERSON, 40),
            "motion": lambda: core(VI_MOTION, 20),
        }
        text = _SLOT.sub(lambda m: fill[m.group(1)](), template)
        return cap(text)

    def declarative(self):
        form = self.weighted([("plain", 30), ("and", 12), ("but", 8),
                              ("for", 5), ("when", 6), ("if", 6), ("rel", 10),
                              ("say", 6), ("oath", 3), ("tis", 5), ("there", 4),
                              ("like", 3), ("opener", 10), ("let", 4),
                              ("had", 2), ("sim", 3), ("though", 3)])
        c = self.clause
        if form == "plain":
            return self.with_address(c(), ".")
        if form == "and":
            return self.with_address(c() + ", and " + c(), self.pick([".", ".", "!"]))
        if form == "but":
            return self.with_address(c() + "; but " + c(), ".")
        if form == "for":
            return cap(c()) + ", for " + c() + "."
        if form == "when":
            if self.chance(0.5):
                return cap(c(tense="past")) + " " + \
                    self.pick(["when", "while", "ere", "before", "after", "as"]) + \
                    " " + c(tense="past") + "."
            return cap(c(tense="fut")) + " " + \
                self.pick(["when", "ere", "until", "before", "after", "as soon as"]) + \
                " " + c(tense="pres") + "."
        if form == "if":
            return cap(self.pick(["if", "if", "unless", "though", "an if"])) + " " + \
                c(tense="pres") + ", " + c(tense="fut") + "."
        if form == "rel":
            subj, person = self.subject()
            v = self.conj(person, self.pick(VT_THING), self.pick(["pres", "past", "fut"]))
            obj = self.np("thing", adj_p=0.3, of_p=0)[0]
            s2, p2 = self.subject()
            v2 = self.conj(p2, self.pick(VT_THING), "past")
            return self.with_address(subj + " " + v + " " + obj + " that " + s2 + " " +
                                     v2 + " " + self.place_pp(), ".")
        if form == "say":
            v = self.pick(V_SAY)
            subj = self.pick(["I", "I", "we"])
            return self.with_address(subj + " " + self.conj(subj, v, "pres") +
                                     " " + c(depth=1), ".")
        if form == "oath":
            return cap(self.pick(["I swear", "I vow", "I tell thee", "I promise you"])) + \
                ", " + self.pick(OATHS) + ", " + c() + "."
        if form == "tis":
            r = self.rng.random()
            if r < 0.35:
                return self.pick(["'Tis", "It is", "'Twas", "It was"]) + " " + \
                    self.np(self.pick(["abstract", "count", "thing"]), "sg",
                            adj_p=0.5, of_p=0.4)[0] + "."
            if r < 0.7:
                return self.pick(["'Tis", "It is", "'Twere"]) + " " + \
                    self.pick(["a " + self.pick(["sin", "shame", "pity", "wonder",
                                                 "kindness", "mercy", "folly"]),
                               self.pick(["hard", "sweet", "bitter", "easy", "strange",
                                          "better", "meet", "fit", "foolish",
                                          "no shame", "no sin"])]) + \
                    " to " + self.pick(VT_PERSON) + " " + self.verb_object("person") + "."
            return self.pick(["'Tis", "It is"]) + " " + self.pick(["not", "but", "only"]) + \
                " " + self.np("count", "sg", adj_p=0.5)[0] + "."
        if form == "there":
            a, _ = self.np("abstract", adj_p=0.3, of_p=0, det=False)
            b, _ = self.np(self.pick(["abstract", "count"]), adj_p=0.3, of_p=0)
            return self.pick(["There is no", "There was never", "There is"]) + " " + a + \
                " " + self.pick(["in", "like", "but", "without", "beyond"]) + " " + b + "."
        if form == "like":
            subj, person = self.subject()
            thing = self.nature_np("sg")[0] if self.chance(0.6) else \
                self.np("person", "sg")[0]
            return cap(subj) + " " + self.be(person, self.pick(["pres", "past"])) + \
                " like " + thing + " " + self.place_pp() + "."
        if form == "opener":
            return self.pick(OPENERS) + " " + c() + self.pick([".", ".", "!"])
        if form == "let":
            return self.pick(["Let", "Let", "O, let"]) + " " + \
                self.pick(["me", "us", "him", "her", "them"]) + " " + \
                self.let_rest() + "."
        if form == "had":
            return "Had I " + verb_form(self.pick(VT_PERSON), "pp") + " " + \
                self.verb_object("person") + ", I had not " + \
                verb_form(self.pick(VT_ABSTRACT), "pp") + " " + \
                self.verb_object("abstract") + "."
        if form == "sim":
            adj = self.pick(sorted(SIMILES))
            return cap(self.np(self.pick(["body", "abstract", "person"]), "sg",
                               adj_p=0, of_p=0.2)[0]) + " " + \
                self.pick(["is", "was", "shall be", "seems"]) + " " + adj + \
                " as " + self.pick(SIMILES[adj]) + "."
        return cap(self.pick(["though", "although", "albeit"])) + " " + c() + \
            ", " + c() + "."

    def let_rest(self):
        r = self.rng.random()
        if r < 0.4:
            return self.pick(VT_PERSON) + " " + self.verb_object("person")
        if r < 0.7:
            return self.pick(VI_MOTION) + " " + self.place_pp(directional=True)
        return self.pick(VT_ABSTRACT) + " " + self.verb_object("abstract")

    def question(self):
        form = self.weighted([("where", 10), ("why", 10), ("who", 6), ("what", 8),
                              ("shall", 6), ("did", 8), ("hast", 6), ("dost", 6),
                              ("wilt", 5), ("is", 6), ("can", 5), ("how", 5),
                              ("whatsay", 3), ("tag", 4), ("art", 4)])
        if form == "where":
            noun, num = self.np(self.pick(["person", "thing", "person", "thing",
                                           "count"]), adj_p=0.3)
            if self.chance(0.3):
                noun, num = self.pick(self.others()).ref, "sg"
            return self.with_address("where " + ("is " if num == "sg" else "are ") +
                                     noun, "?")
        if form == "why":
            subj, person = self.subject()
            if person in ("I", "we", "thou"):
                subj, person = "you", "you"
            aux = {"3s": "does"}.get(person, "do")
            if self.chance(0.3):
                aux = "did"
            return self.with_address("why " + aux + " " + subj + " " +
                                     self.predicate_base(), "?")
        if form == "who":
            return self.with_address("who " + self.conj("3s", self.pick(VT_PERSON + VT_THING),
                                                        "past") + " " +
                                     self.verb_object(self.pick(["person", "thing"])), "?")
        if form == "what":
            r = self.rng.random()
            if r < 0.4:
                return "What " + self.pick(NOUNS[self.pick(["count", "thing", "person"])]) + \
                    " is this" + self.pick(["", " that " + self.conj("3s", self.pick(VI_MOTION), "pres") +
                                            " " + self.place_pp(directional=True)]) + "?"
            if r < 0.7:
                subj, person = self.subject()
                if person in ("I", "thou"):
                    subj, person = "you", "you"
                aux = {"3s": "does"}.get(person, "do")
                return self.with_address("what " + aux + " " + subj + " " +
                                         self.pick(["seek", "want", "fear", "mean",
                                                    "hide", "know", "bring", "desire"]), "?")
            return "What " + self.pick(["news", "cheer", "noise", "light", "man"]) + \
                " " + self.pick(["is this", "from " + self.pick(REALMS),
                                 "is here", "now"]) + "?"
        if form == "shall":
            return self.with_address(self.pick(["shall", "shall", "may", "must"]) +
                                     " we " + self.let_rest(), "?")
        if form == "did":
            subj, person = self.subject()
            if person == "thou":
                return self.with_address("didst thou " + self.predicate_base(), "?")
            return self.with_address(self.pick(["did", "will", "would", "could"]) + " " +
                                     subj + " " + self.predicate_base(), "?")
        if form == "hast":
            return self.with_address("hast thou " + verb_form(self.pick(VT_PERSON), "pp") +
                                     " " + self.verb_object("person"), "?")
        if form == "dost":
            return self.with_address("dost thou " + self.predicate_base(), "?")
        if form == "wilt":
            return self.with_address(self.pick(["wilt thou", "will you", "would you",
                                                "canst thou"]) + " " + self.predicate_base(), "?")
        if form == "is":
            noun, num = self.np(self.pick(["person", "thing", "abstract", "place"]),
                                adj_p=0.2)
            return self.with_address(("is " if num == "sg" else "are ") + noun + " " +
                                     self.pick(PREDICATE_ADJ + THING_ADJ[:40]), "?")
        if form == "can":
            noun, num = self.np(self.pick(["abstract", "count", "person"]), adj_p=0.4)
            return self.pick(["Can", "Shall", "May", "Must", "Will"]) + " " + noun + " " + \
                self.predicate_base() + "?"
        if form == "how":
            adj = self.rng.choice(PREDICATE_ADJ[:60])
            noun, num = self.np(self.pick(["person", "abstract", "body"]),
                                adj_p=0, of_p=0.2)
            return "How " + adj + " " + ("is " if num == "sg" else "are ") + noun + \
                self.pick(["!", "!", "?"])
        if form == "whatsay":
            return self.pick(["What say you", "How now", "What news", "How fares it",
                              "What think you", "Speak, what is it", "What is the matter",
                              "Why, how now", "What cheer"]) + ", " + self.address() + "?"
        if form == "art":
            return self.with_address("art thou " + self.pick(PREDICATE_ADJ), "?")
        return cap(self.clause()) + self.pick([", is it not?", ", is't not so?",
                                               ", ha?", "? Is it so?", ", say you?"])

    def predicate_base(self, imperative=False):
        """A bare-infinitive predicate: love the Duke, go to the tower."""
        frame = self.weighted([("person", 4), ("thing", 3), ("abstract", 3),
                               ("motion", 3), ("intrans", 2)])
        if frame == "motion":
            return self.pick(VI_MOTION) + " " + self.place_pp(directional=True)
        if frame == "intrans":
            text = self.pick(VI_PERSON)
            if self.chance(0.5):
                text += " " + self.pick(ADVERBS + [self.place_pp()])
            return text
        verbs_ = {"person": VT_PERSON, "thing": VT_THING, "abstract": VT_ABSTRACT}[frame]
        exclude = ("you", "thee", "us") if imperative else ("you", "thee")
        return self.pick(verbs_) + " " + self.verb_object(frame, exclude)

    def imperative(self):
        form = self.weighted([("go", 6), ("two", 6), ("bring", 5), ("speak", 4),
                              ("plain", 8), ("neg", 4), ("pray", 4)])
        if form == "go":
            return "Go, " + self.address() + ", and " + self.predicate_base(True) + \
                self.pick([".", ".", "!"])
        if form == "two":
            return cap(self.predicate_base(imperative=True)) + ", and " + \
                self.predicate_base(imperative=True) + self.pick([".", "!"])
        if form == "bring":
            return self.pick(["Bring me", "Give me", "Show me", "Fetch me",
                              "Lend me", "Send me"]) + " " + self.np("thing", adj_p=0.4)[0] + \
                self.pick([".", "!", ", " + self.address() + "."])
        if form == "speak":
            return self.pick(["Speak", "Answer me", "Tell me", "Hear me", "Look on me",
                              "Swear", "Stay", "Come hither", "Stand back",
                              "Forbear", "Peace"]) + ", " + self.address() + \
                self.pick([".", "!"])
        if form == "neg":
            return self.with_address(self.pick(["do not", "never", "O, do not",
                                                "do not"]) + " " +
                                     self.predicate_base(imperative=True),
                                     self.pick([".", "!"]))
        if form == "pray":
            return self.pick(["Pray you,", "I pray thee,", "I beseech you,",
                              "Prithee,", "Good now,"]) + " " + self.predicate_base() + "."
        return self.with_address(self.predicate_base(imperative=True),
                                 self.pick([".", "!"]))

    def exclamation(self):
        r = self.rng.random()
        if r < 0.45:
            return self.pick(EXCLAIMS)
        if r < 0.8:
            kind = self.pick(["abstract", "person", "sky", "time", "count", "abstract"])
            head = self.np(kind, "sg", adj_p=0.9, of_p=0.15, det=False)[0]
            return "O " + head + "!" + \
                (" " + self.pick(EXCLAIMS) if self.chance(0.2) else "")
        return self.pick(["O", "Ah", "Alas"]) + ", " + self.address() + "!"

    def sentence(self):
        kind = self.weighted([("stock", 46), ("decl", 32), ("q", 11), ("imp", 7),
                              ("excl", 5)])
        if kind == "stock":
            text, qa = self.stock()
            self.qa = qa
            return text
        self.qa = None
        if kind == "decl":
            return self.declarative()
        if kind == "q":
            return self.question()
        if kind == "imp":
            return self.imperative()
        return self.exclamation()

    def answer(self):
        """The opening of a reply to a question."""
        yes = self.chance(0.55)
        word = self.pick(ANSWERS_YES if yes else ANSWERS_NO)
        if self.chance(0.5):
            return word + ", " + self.address() + self.pick([".", ".", "!"])
        return word + self.pick([".", ".", "!"])


# ---------------------------------------------------------------------------
# Lines of verse and prose
# ---------------------------------------------------------------------------

NO_BREAK_AFTER = set(w.lower() for w in words("""
the a an my thy your his her our their this that these those yon no every
of to in at upon into unto from by with for as than and or but nor if
when where whose though ere I thou we he she they be am is are was were
will shall would should could must may might do does did dost have has hast
not so most too very right such some many all
"""))


def verse_lines(text, rng):
    """Break a speech into lines of about eight to twelve syllables, never
    after an article, preposition or the like, and never just before a short
    word that ends a sentence."""
    tokens = text.split()
    sylls = [syllables(t) for t in tokens]
    lines, cur, count = [], [], 0
    target = rng.choice((8, 9, 10, 10, 10, 10, 11, 11, 12))
    for i, tok in enumerate(tokens):
        cur.append(tok)
        count += sylls[i]
        if i == len(tokens) - 1:
            break
        punct = tok[-1] in ",.;:!?"
        rest = sum(sylls[i + 1:])
        if (rest <= 3 and count < 12) or rest <= 2:
            continue
        if tokens[i + 1][-1] in ".!?" and sylls[i + 1] <= 2 and count < 13:
            continue
        if not (count >= target
                or (punct and count >= target - 2 and rng.random() < 0.7)
                or (count + sylls[i + 1] > 12 and count >= 8)):
            continue
        # Carry trailing function words over to the next line.
        carry = []
        while len(cur) > 1 and cur[-1][-1] not in ",.;:!?" and \
                cur[-1].lower() in NO_BREAK_AFTER:
            carry.insert(0, cur.pop())
        if sum(syllables(t) for t in cur) < 5:
            cur += carry
            continue
        lines.append(cur)
        cur = carry
        count = sum(syllables(t) for t in cur)
        target = rng.choice((8, 9, 10, 10, 10, 10, 11, 11, 12))
    if cur:
        lines.append(cur)
    return [cap(" ".join(line)) for line in lines]


def prose_lines(text, rng):
    """Break a speech into prose lines of a printed width."""
    width = rng.randint(56, 74)
    lines, cur = [], ""
    for tok in text.split():
        if cur and len(cur) + 1 + len(tok) > width:
            lines.append(cur)
            cur = tok
        else:
            cur = (cur + " " + tok) if cur else tok
    if cur:
        lines.append(cur)
    return lines


def join_names(names):
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return names[0] + " and " + names[1]
    return ", ".join(names[:-1]) + ", and " + names[-1]


ROMAN = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]

SCENE_PLACES = words("""
garden chamber hall court gate bridge forest grove orchard field meadow moor
heath hill cave shore harbour chapel cell dungeon battlements courtyard
gallery library study parlour kitchen cellar stable inn tavern market street
lane road camp churchyard tower wood quay terrace arbour bower
""")


# ---------------------------------------------------------------------------
# Plays
# ---------------------------------------------------------------------------

class Play:
    def __init__(self, rng):
        self.rng = rng
        self.realm = rng.choice(REALMS)
        self.genre = rng.choice(["tragedy", "comedy", "comedy", "history", "romance"])
        self.theme_thing = rng.choice(THING_NOUNS[:120])
        self.theme_abstract = rng.choice(ABSTRACT_MASS[:80])
        self.theme_place = "the " + rng.choice(PLACE_NOUNS[:60])
        self.cast = []
        self._used = []
        self.make_cast()
        self.grammar = Grammar(rng, self)
        self.dead = []
        self.pending = None     # (replies, person) for a stock question just asked

    # -- the cast -------------------------------------------------------------

    def name(self, pool):
        for _ in range(50):
            n = self.rng.choice(pool)
            if n not in self._used:
                self._used.append(n)
                return n
        return self.rng.choice(pool)

    def add(self, title, name, gender, rank, role, ref, desc, heading=None):
        heading = heading or ((title + " " + name) if title else name).upper()
        c = Character(title, heading, name, gender, rank, role, ref, desc)
        self.cast.append(c)
        return c

    def make_cast(self):
        rng = self.rng
        realm = self.realm
        title, g = rng.choice([("Duke", "m"), ("Duchess", "f"), ("King", "m"),
                               ("Queen", "f"), ("Count", "m"), ("Countess", "f"),
                               ("Prince", "m")])
        self.ruler_title = title
        n = self.name(MALE_NAMES if g == "m" else FEMALE_NAMES)
        ruler = self.add(title, n, g, "royal", "ruler", "the " + title,
                         ("ruler of " if title not in ("King", "Queen") else
                          title.lower() + " of ") + realm)
        self.ruler = ruler
        hg = rng.choice("mf")
        if title in ("King", "Queen"):
            ht = "Prince" if hg == "m" else "Princess"
        else:
            ht = "Lord" if hg == "m" else "Lady"
        n = self.name(MALE_NAMES if hg == "m" else FEMALE_NAMES)
        heir = self.add(ht, n, hg, "royal", "heir",
                        (ht + " " + n) if ht in ("Lord", "Lady") else n,
                        ("son" if hg == "m" else "daughter") + " to the " + title)
        lg = "f" if hg == "m" else "m"
        lt = "Lady" if lg == "f" else rng.choice(["Lord", "Lord", "Count", "Sir"])
        n = self.name(MALE_NAMES if lg == "m" else FEMALE_NAMES)
        lover = self.add(lt, n, lg, "noble", "lover", n if lt != "Sir" else "Sir " + n,
                         ("a gentleman of " + rng.choice(REALMS) if lg == "m"
                          else "a lady of the court") + ", in love with " + heir.name)
        heir.lover, lover.lover = lover, heir
        vg = rng.choice("mmf")
        vt = rng.choice(["Count", "Baron", "Lord"]) if vg == "m" else \
            rng.choice(["Lady", "Countess"])
        n = self.name(MALE_NAMES if vg == "m" else FEMALE_NAMES)
        self.villain = self.add(vt, n, vg, "noble", "villain", vt + " " + n,
                                rng.choice(["a lord of the court, enemy to the " + title,
                                            ("brother" if vg == "m" else "sister") +
                                            " to the " + title,
                                            "a false friend to " + lover.name,
                                            "a suitor to " + heir.name]))
        n = self.name(MALE_NAMES)
        ft = rng.choice(["Lord", "Sir"])
        self.add(ft, n, "m", "noble", "counsellor", ft + " " + n,
                 rng.choice(["an old counsellor", "friend to " + lover.name,
                             "a lord of the council", "steward of the household"]))
        n = self.name(FEMALE_NAMES)
        self.add("Lady", n, "f", "noble", "confidante", "Lady " + n,
                 "attending on " + rng.choice([heir.name, "the " + title]))
        if rng.random() < 0.6:
            n = self.name(CLERGY_NAMES)
            self.add("Friar", n, "m", "clergy", "friar", "Friar " + n, "a friar")
        else:
            n = self.name(FEMALE_NAMES)
            self.add("Mother", n, "f", "clergy", "friar", "Mother " + n,
                     "abbess of " + rng.choice(["the convent", "Saint " +
                                                rng.choice(FEMALE_NAMES + MALE_NAMES)]))
        fg = rng.choice("mmf")
        n = self.name(COMMON_MALE if fg == "m" else COMMON_FEMALE)
        self.add("", n, fg, "common", "fool", n,
                 rng.choice(["a clown", "a fool", "jester to the " + title,
                             "a merry servant"]))
        if rng.random() < 0.6:
            n = self.name(COMMON_FEMALE)
            self.add("", n, "f", "common", "nurse", n, "nurse to " + heir.name)
        else:
            n = self.name(COMMON_MALE)
            self.add("", n, "m", "common", "servant", n,
                     rng.choice(["servant to ", "steward to ", "man to "]) + lover.name)
        n = self.name(MALE_NAMES)
        self.add("Captain", n, "m", "noble", "captain", "Captain " + n,
                 "captain of the guard")
        minors = [("MESSENGER", "a Messenger", "m"), ("FIRST GUARD", "First Guard", "m"),
                  ("PAGE", "a Page", "m"), ("FIRST CITIZEN", "First Citizen", "m"),
                  ("SECOND CITIZEN", "Second Citizen", "f"), ("SERVANT", "a Servant", "m"),
                  ("SECOND GUARD", "Second Guard", "m"), ("HUNTSMAN", "a Huntsman", "m")]
        rng.shuffle(minors)
        for heading, entry, g in minors[:rng.randint(2, 4)]:
            c = self.add("", None, g, "common", "minor", "the " + heading.split()[-1].lower(),
                         "", heading=heading)
            c.entry = entry

    # -- text ------------------------------------------------------------------

    def title(self):
        rng = self.rng
        g = self.genre
        r, h = self.ruler, self.cast[1]
        if g == "tragedy":
            t = rng.choice(["The Tragedy of " + r.title + " " + r.name,
                            "The Tragedy of " + h.name + " of " + self.realm,
                            "The Tragedy of " + self.villain.ref])
        elif g == "comedy":
            t = rng.choice(["The Comedy of the " + cap(rng.choice(THING_ADJ[:60])) + " " +
                            cap(self.theme_thing),
                            h.name + " and " + h.lover.name,
                            "Love's " + cap(rng.choice(ABSTRACT_MASS[:60])),
                            "The " + cap(rng.choice(PERSON_ADJ[:60])) + " " +
                            cap(rng.choice(PERSON_NOUNS[:80])) + " of " + self.realm])
        elif g == "history":
            t = rng.choice(["The History of " + r.title + " " + r.name,
                            "The Life and Death of " + r.title + " " + r.name,
                            "The Wars of " + self.realm])
        else:
            t = rng.choice(["The " + cap(rng.choice(TIME_NOUNS[:20])) + " of " + self.realm,
                            "A " + cap(rng.choice(TIME_NOUNS[:20])) + " in " + self.realm,
                            "The " + cap(rng.choice(ANIMAL_NOUNS[:40])) + " of " +
                            self.realm])
        return t.upper()

    def front_matter(self):
        out = [self.title(), "", "PERSONS OF THE PLAY", ""]
        for c in self.cast:
            if c.role == "minor":
                continue
            out.append(c.heading + ", " + c.desc + ".")
        out.append(self.rng.choice(["Lords, Ladies, Guards, and Attendants.",
                                    "Citizens, Soldiers, Servants, and Musicians.",
                                    "Courtiers, Huntsmen, a Messenger, and Attendants."]))
        out += ["", "SCENE: " + self.realm + self.rng.choice(
            [", and the country near it.", ".", ", and a forest beyond the walls.",
             "; afterwards the sea-coast.", ", and the court of " +
             self.rng.choice(REALMS) + "."]), ""]
        return out

    def location(self):
        rng = self.rng
        r = rng.random()
        if r < 0.08:
            return "The same. Another room."
        place = rng.choice(SCENE_PLACES)
        adj = rng.choice(PLACE_ADJ) + " " if rng.random() < 0.3 else ""
        head = cap(article(adj + place) if rng.random() < 0.7 else "the") + " " + adj + place
        suffix = rng.choice(["", "", " in the " + self.ruler_title + "'s palace",
                             " before the castle", " near " + rng.choice(REALMS),
                             " of " + rng.choice(self.cast[:6]).name_possessive() +
                             " house", " in " + self.realm, " outside the walls"])
        pre = (self.realm + ". ") if rng.random() < 0.2 else ""
        return pre + head + suffix + "."

    def living(self, chars):
        return [c for c in chars if c not in self.dead]

    def speech(self, spk, hearer, present, after_question, greeting, news):
        g = self.grammar
        rng = self.rng
        g.speaker, g.hearer, g.present = spk, hearer, present
        n = g.weighted([(1, 34), (2, 22), (3, 15), (4, 10), (5, 6), (6, 5), (7, 3),
                        (9, 3), (12, 2)])
        sents = []
        if greeting:
            sents.append(rng.choice(["Good morrow", "Welcome", "How now", "Well met",
                                     "Good even", "God save you", "Hail",
                                     "Good day"]) + ", " + g.address() +
                         rng.choice([".", "!"]))
        if news:
            sents.append(self.news())
        pending, self.pending = self.pending, None
        if greeting:
            pending = None
        if pending is not None and rng.random() < 0.85:
            answers, who = pending
            reply = rng.choice(answers)
            sents.append(g.fill(reply, who))
            if reply in STOCK_ANSWER_ONLY:
                self.pending = (STOCK_ANSWER_ONLY[reply], who)
                n = len(sents)
        elif after_question and rng.random() < 0.65:
            sents.append(g.answer())
        tries = 0
        while len(sents) < n and tries < 3 * n:
            tries += 1
            sent = g.sentence()
            if sent in sents:
                continue
            sents.append(sent)
            if g.qa is not None:
                self.pending = g.qa
                break
            if g.arriving is not None or g.leaving is not None:
                break
        text = " ".join(sents)
        prose = rng.random() < (0.7 if spk.rank == "common" else 0.08)
        lines = prose_lines(text, rng) if prose else verse_lines(text, rng)
        r = rng.random() if not (greeting or news or pending) else 1.0
        others = [c for c in present if c is not spk]
        if r < 0.035:
            lines[0] = "[Aside.] " + lines[0]
        elif r < 0.06 and len(others) >= 2 and hearer is not None:
            lines[0] = "[To " + hearer.entry + ".] " + lines[0]
        elif r < 0.075:
            lines[0] = rng.choice(["[Kneeling.] ", "[Weeping.] ", "[Reads.] ",
                                   "[Rising.] ", "[Laughing.] ", "[Drawing.] "]) + lines[0]
        return [spk.heading + ":"] + lines, text.endswith("?")

    def news(self):
        g = self.grammar
        rng = self.rng
        who = rng.choice([c for c in self.cast if c.role != "minor"])
        r = rng.random()
        if r < 0.3:
            s = who.ref + " is " + rng.choice(["come from ", "fled to ", "taken at ",
                                                "landed at ", "returned from "]) + \
                rng.choice(REALMS)
        elif r < 0.55:
            s = "the " + rng.choice(["army", "fleet", "enemy", "rebels", "duke's men",
                                     "horsemen", "people"]) + " " + \
                rng.choice(["are come to ", "are landed at ", "march upon ",
                            "are gathered at ", "have fled from "]) + \
                rng.choice([rng.choice(REALMS), g.np("place", "sg", adj_p=0.3)[0]])
        elif r < 0.8:
            s = "the " + self.theme_thing + " is " + \
                rng.choice(["stolen", "found", "lost", "broken", "sold", "returned"]) + \
                " " + g.place_pp()
        else:
            s = who.ref + " lies " + rng.choice(["sick", "wounded", "sleeping",
                                                  "bound", "weeping"]) + " " + g.place_pp()
        lead = rng.choice(["", "", "News, " + g.address() + "! ",
                           g.address() + ", ", "I bring word that "])
        if lead.startswith("I bring"):
            return cap(lead + s) + "."
        return cap(lead) + cap(s) + "."

    def scene(self, act, number, last):
        rng = self.rng
        out = ["SCENE " + ROMAN[number] + ". " + self.location(), ""]
        principals = self.living([c for c in self.cast if c.role != "minor"])
        minors = [c for c in self.cast if c.role == "minor"]
        alone = rng.random() < 0.07
        k = 1 if alone else min(len(principals), rng.choice([2, 2, 2, 3, 3, 4]))
        present = rng.sample(principals, k)
        tragic_end = self.genre == "tragedy" and last and self.villain in principals
        if tragic_end and not alone and self.villain not in present:
            present.append(self.villain)
        if self.ruler in present and rng.random() < 0.5:
            present.remove(self.ruler)
            present.insert(0, self.ruler)
            pre = rng.choice(["Flourish. ", "Trumpets sound. ", "A sennet. "])
            extra = rng.choice([", with Attendants", ", with Lords", ""])
        else:
            pre = rng.choice(["", "", "", "", "Thunder. ", "Music. ", "Night. ",
                              "A bell rings. "])
            extra = rng.choice(["", "", "", ", meeting" if k == 2 else ""])
        out += ["[" + pre + "Enter " + join_names([c.entry for c in present]) + extra + ".]", ""]
        n_speeches = rng.randint(6, 12) if alone else rng.randint(14, 38)
        prev, prev_q = None, False
        greet, news = None, None
        self.pending = None
        for i in range(n_speeches):
            # Entrances and exits.
            if i > 1 and rng.random() < 0.07:
                pool = [c for c in minors + principals if c not in present]
                if pool:
                    c = rng.choice(pool)
                    present.append(c)
                    out += ["[Enter " + c.entry + ".]", ""]
                    greet = c
                    news = c if c.role == "minor" else None
            elif i > 2 and len(present) > 2 and rng.random() < 0.04:
                c = rng.choice([c for c in present if c is not prev])
                present.remove(c)
                out += ["[Exit " + c.entry + ".]", ""]
            if len(present) == 1 and not alone and i > 0:
                pool = [c for c in principals if c not in present]
                c = rng.choice(pool)
                present.append(c)
                out += ["[Enter " + c.entry + ".]", ""]
                greet = c
            # Who speaks, and to whom.
            if news is not None:
                spk, news_now = news, True
                news = None
            else:
                choices = [c for c in present if c is not prev] or present
                spk, news_now = rng.choice(choices), False
            hearer = prev if prev in present and prev is not spk else \
                (rng.choice([c for c in present if c is not spk])
                 if len(present) > 1 else None)
            greeting = greet is not None and greet is not spk
            if greeting:
                hearer, greet = greet, None
            g = self.grammar
            g.arriving = g.leaving = None
            block, prev_q = self.speech(spk, hearer, present, prev_q and not news_now,
                                        greeting, news_now)
            out += block + [""]
            prev = spk
            if g.arriving is not None and g.arriving not in present \
                    and g.arriving not in self.dead and i < n_speeches - 2:
                present.append(g.arriving)
                out += ["[Enter " + g.arriving.entry + ".]", ""]
                greet = g.arriving
                self.pending = None
            elif g.leaving is not None and g.leaving in present and len(present) > 2 \
                    and i < n_speeches - 2:
                present.remove(g.leaving)
                out += ["[Exit." + "]" if g.leaving is spk else
                        "[Exit " + g.leaving.entry + ".]", ""]
                self.pending = None
                prev = None if g.leaving is spk else spk
            if i == n_speeches - 1:
                break
            if tragic_end and i == n_speeches - 4:
                victim = self.villain
                if victim not in present:
                    present.append(victim)
                    out += ["[Enter " + victim.entry + ", with his sword drawn.]"
                            .replace("his", victim.his), ""]
                foes = [c for c in present if c is not victim and c.role != "minor"] or \
                    [c for c in present if c is not victim]
                foe = rng.choice(foes)
                out += ["[They fight. " + foe.entry + " wounds " + victim.entry + ".]", ""]
                g = self.grammar
                g.speaker, g.hearer = victim, foe
                last_words = rng.sample(DYING, rng.randint(2, 3))
                words_ = " ".join(g.fill(w, g.someone()) for w in last_words)
                out += [victim.heading + ":"] + verse_lines(words_, rng) + ["", "[Dies.]", ""]
                present.remove(victim)
                self.dead.append(victim)
                prev = None
        if last and self.genre in ("comedy", "romance"):
            out += ["[Music. A dance.]", ""]
        if len(present) == 1:
            out += ["[Exit.]", ""]
        else:
            out += [rng.choice(["[Exeunt.]", "[Exeunt.]", "[Exeunt severally.]",
                                "[Exeunt all.]"]), ""]
        return out

    def acts(self):
        """Yield blocks of lines: front matter, then each act heading with
        its first scene, then the other scenes."""
        yield self.front_matter()
        for act in range(1, 6):
            scenes = self.rng.choice([2, 3, 3, 4])
            for s in range(1, scenes + 1):
                head = ["ACT " + ROMAN[act], ""] if s == 1 else []
                yield head + self.scene(act, s, act == 5 and s == scenes)


def generate(chars, seed):
    rng = random.Random(seed)
    pieces = []
    total = 0
    while total < chars:
        play = Play(rng)
        for block in play.acts():
            text = "\n".join(block) + "\n"
            pieces.append(text)
            total += len(text)
            if total >= chars:
                break
        pieces.append("THE END.\n\n\n")
        total += len("THE END.\n\n\n")
    return "".join(pieces).rstrip("\n") + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chars", type=int, default=DEFAULT_CHARS,
                    help="stop at the end of the scene that reaches this many "
                         "characters (default %(default)s)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED,
                    help="random seed (default %(default)s)")
    ap.add_argument("-o", "--output", default=str(DEFAULT_OUT),
                    help="output file, or - for stdout (default corpora/plays.txt)")
    args = ap.parse_args(argv)
    if args.chars <= 0:
        ap.error("--chars must be positive")
    text = generate(args.chars, args.seed)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        print("wrote %s: %d characters, %d bytes, %d distinct characters"
              % (args.output, len(text), len(text.encode("utf-8")), len(set(text))),
              file=sys.stderr)


if __name__ == "__main__":
    main()
