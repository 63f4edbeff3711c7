#!/usr/bin/env bash
# Offline NLTK data for workbench.augmentation: WordNet 3.0 inside the virtualenv.
#
#   scripts/setup_nltk_data.sh [--if-available] [VENV]        (default: $VENV, else .venv)
#
# --if-available (what `make report` uses) never installs anything: it copies WordNet when the
# machine has it and otherwise says how to get it and exits 0 (the WordNet augmenters are then
# reported as skipped).
#
# nltk has no offline download, so WordNet comes from Debian's packages `wordnet-base` and
# `wordnet-sense-index` (installed with apt-get when missing; needs root or sudo). Their database
# files are copied into VENV/nltk_data/corpora/wordnet/ -- nltk searches sys.prefix/nltk_data, so
# nothing outside the project is touched -- together with the 45-line `lexnames` file that nltk
# reads and Debian does not ship. Copies, not symlinks: nltk refuses paths leaving its data dir.
#
# Idempotent: when the folder is complete it only checks and exits (well under a second).
# nltk's POS tagger data is not needed: workbench tags with TextBlob's bundled lexicon tagger.
set -euo pipefail

if_available=0
if [[ "${1:-}" == "--if-available" ]]; then if_available=1; shift; fi
venv="${1:-${VENV:-.venv}}"
target="$venv/nltk_data/corpora/wordnet"
source_dir=/usr/share/wordnet
packages=(wordnet-base wordnet-sense-index)
# The files nltk's WordNetCorpusReader opens (plus the sense index and counts it uses when present).
required=(data.adj data.adv data.noun data.verb index.adj index.adv index.noun index.verb
          index.sense adj.exc adv.exc noun.exc verb.exc cntlist.rev lexnames)

fail() { echo "setup_nltk_data: $*" >&2; exit 1; }

complete() {
    local name
    for name in "${required[@]}"; do
        [[ -s "$target/$name" ]] || return 1
    done
}

if [[ ! -d "$venv" ]]; then
    fail "the virtualenv '$venv' does not exist. Fix: create it first (make setup), or pass its path."
fi
if complete; then
    echo "setup_nltk_data: WordNet already in $target"
    exit 0
fi

if [[ ! -s "$source_dir/data.noun" || ! -s "$source_dir/index.sense" ]]; then
    if [[ "$if_available" == 1 ]]; then
        echo "setup_nltk_data: WordNet is not on this machine; the synonym and antonym augmenters will be" \
             "skipped. Get it with: scripts/setup_nltk_data.sh $venv (installs Debian's ${packages[*]})"
        exit 0
    fi
    # shellcheck source=scripts/apt_install.sh
    source "$(dirname "$0")/apt_install.sh"
    apt_install setup_nltk_data "${packages[@]}"
fi

mkdir -p "$target"
# Only the database files at the top level (not the GUI's bin/, pixmaps/, wnres/).
find "$source_dir" -maxdepth 1 -type f -exec cp -f {} "$target/" \;

# Lexicographer files: number, name, syntactic category (1 noun, 2 verb, 3 adjective, 4 adverb),
# as listed in the WordNet 3.0 documentation (lexnames(5WN)).
lexnames=(adj.all:3 adj.pert:3 adv.all:4 noun.Tops:1 noun.act:1 noun.animal:1 noun.artifact:1
          noun.attribute:1 noun.body:1 noun.cognition:1 noun.communication:1 noun.event:1
          noun.feeling:1 noun.food:1 noun.group:1 noun.location:1 noun.motive:1 noun.object:1
          noun.person:1 noun.phenomenon:1 noun.plant:1 noun.possession:1 noun.process:1
          noun.quantity:1 noun.relation:1 noun.shape:1 noun.state:1 noun.substance:1 noun.time:1
          verb.body:2 verb.change:2 verb.cognition:2 verb.communication:2 verb.competition:2
          verb.consumption:2 verb.contact:2 verb.creation:2 verb.emotion:2 verb.motion:2
          verb.perception:2 verb.possession:2 verb.social:2 verb.stative:2 verb.weather:2 adj.ppl:3)
: > "$target/lexnames.tmp"
for i in "${!lexnames[@]}"; do
    printf '%02d\t%s\t%s\n' "$i" "${lexnames[$i]%%:*}" "${lexnames[$i]##*:}" >> "$target/lexnames.tmp"
done
mv "$target/lexnames.tmp" "$target/lexnames"

complete || fail "WordNet in $target is incomplete after copying from $source_dir. Fix: reinstall ${packages[*]}."
echo "setup_nltk_data: WordNet copied to $target"
