"""TextMixin: item and user texts, and their language-model embeddings, for a RecBole dataset.

Mixed into both dataset classes (:mod:`recbole_llmkg.data.dataset`). It

* loads the ``.item``/``.user`` fields the templates name (RecBole's default ``load_col`` loads
  only user and item ids, and we must not change what RecBole's own models load, so the class
  widens ``load_col`` for itself rather than the dataset YAML doing it for everyone);
* checks every atomic file before RecBole reads it (:mod:`recbole_llmkg.data.atomic`);
* builds item texts and user profile texts once, after RecBole has remapped ids, so index ``i``
  is RecBole's id ``i`` (index 0, the padding id, is a placeholder and embeds to zeros);
* reads the LLM-written knowledge file beside the templates when a knowledge view is chosen
  (``item_text_view`` / ``user_text_view``: metadata, knowledge, combined, or item-only separate;
  :mod:`recbole_llmkg.llm.knowledge_file`); an item without knowledge keeps its metadata text;
* builds the history part of user texts on demand from ``self.inter_feat``: called on the
  training split (``train_data._dataset``) it sees training interactions only. RecBole's
  ``copy()`` is shallow, so user results are memoised together with the ``inter_feat`` object
  they were computed from and recomputed for any other split.
"""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from recbole.utils import FeatureSource, FeatureType

from recbole_llmkg.data import settings
from recbole_llmkg.data.atomic import AtomicFile, check_atomic_file
from recbole_llmkg.data.precomputed import load_precomputed
from recbole_llmkg.data.validate import required_columns
from recbole_llmkg.errors import ConfigError, DataError, require_choice
from recbole_llmkg.llm.cache import EmbeddingCache, model_fingerprint
from recbole_llmkg.llm.encoder import encode_across, forward_precision, get_encoder
from recbole_llmkg.llm.knowledge_file import read_knowledge, warn_unknown
from recbole_llmkg.llm.knowledge_source import find_knowledge_file, knowledge_candidates
from recbole_llmkg.llm.templates import default_template, render, template_fields

logger = logging.getLogger(__name__)

PAD_TEXT = "[PAD]"
# metadata: the templates; knowledge: the knowledge text (metadata where an id has none);
# combined: one text joining both (knowledge_combined_template); separate (items): the two
# embeddings side by side, each scaled by 1/sqrt(2) so a unit-norm pair stays unit-norm and a
# cosine is the mean of the two views' cosines.
ITEM_TEXT_VIEWS = ("metadata", "knowledge", "combined", "separate")
USER_TEXT_VIEWS = ("metadata", "knowledge", "combined")
_TEXT_TYPES = (FeatureType.TOKEN, FeatureType.TOKEN_SEQ)


def column(feat: Any, field: str) -> np.ndarray:
    """A column of a feature table as numpy, whether RecBole still holds a DataFrame or has
    already turned it into an ``Interaction`` of tensors (after ``build()``)."""
    values = feat[field]
    if isinstance(values, torch.Tensor):
        return values.cpu().numpy()
    return np.asarray(values.values if hasattr(values, "values") else values)


def _examples(tokens: np.ndarray, shown: int = 5) -> str:
    """``"1, 2, 3 ..."``: the first few of ``tokens``."""
    more = " ..." if len(tokens) > shown else ""
    return ", ".join(map(str, tokens[:shown])) + more


class TextMixin:
    """Text fields -> templates -> texts -> embeddings, for RecBole ``Dataset`` subclasses."""

    # -- what to load -------------------------------------------------------------------------
    def _get_preset(self):
        super()._get_preset()
        # .item/.user files loaded only for their text: they must not filter interactions.
        self._text_only_sources: set[str] = set()
        self._checked_files: dict[str, AtomicFile] = {}

    @contextmanager
    def _without_text_only_features(self):
        """Inside: ``user_feat`` / ``item_feat`` are None where they were loaded for text alone,
        so RecBole's code behaves as it does for its own models."""
        hidden = {k: getattr(self, f"{k}_feat") for k in self._text_only_sources}
        for kind in hidden:
            setattr(self, f"{kind}_feat", None)
        try:
            yield
        finally:
            for kind, feat in hidden.items():
                setattr(self, f"{kind}_feat", feat)

    def _filter_inter_by_user_or_item(self):
        """Keep the interactions RecBole's own models keep: RecBole drops interactions whose
        user/item has no .user/.item row, but only when those files are loaded, and here they
        may be loaded for text alone."""
        with self._without_text_only_features():
            super()._filter_inter_by_user_or_item()

    def join(self, df):
        """Batches get the side features RecBole's models would get: none of those loaded for
        text alone (joining the token-sequence titles and genres into every training batch and
        its negatives cost LLMAugRec a third of its epoch; models read text as embeddings)."""
        with self._without_text_only_features():
            return super().join(df)

    def _setting(self, key: str) -> Any:
        return settings.setting(self.config, key)

    def _template_key(self, kind: str) -> str:
        return f"{kind}_text_template"

    def _atomic_path(self, suffix: str) -> str:
        return os.path.join(self.dataset_path, f"{self.dataset_name}.{suffix}")

    def _header_fields(self, suffix: str) -> list[str]:
        path = self._atomic_path(suffix)
        if not os.path.isfile(path):
            return []
        with open(path, "rb") as f:
            header = f.readline().decode(self.config["encoding"] or "utf-8", "replace")
        sep = self.config["field_separator"]
        return [c.partition(":")[0] for c in header.rstrip("\r\n").split(sep)]

    def _text_fields_needed(self, kind: str) -> set[str] | None:
        """Fields of ``.item``/``.user`` the texts need; ``None`` = all (no template set)."""
        template = self._setting(self._template_key(kind))
        if template is None:
            return None
        try:
            fields = set(template_fields(str(template)))
        except ValueError as err:
            raise ConfigError(f"Config key '{self._template_key(kind)}': {err}.") from None
        if kind == "item" and self._setting("item_title_field"):
            fields.add(str(self._setting("item_title_field")))
        return fields

    def _get_load_and_unload_col(self, source):
        load_col, unload_col = super()._get_load_and_unload_col(source)
        source = source.value if isinstance(source, FeatureSource) else source
        if load_col is None:  # everything is loaded already
            return load_col, unload_col
        if source in ("item", "user"):
            needed = self._text_fields_needed(source)
            id_field = self.iid_field if source == "item" else self.uid_field
            configured = self.config["load_col"] and source in self.config["load_col"]
            if load_col == set():
                self._text_only_sources.add(source)
            if needed is None:
                # No template: texts come from the loaded fields; if load_col names none of
                # this file's fields, load them all so there is text to build.
                return (load_col if configured else None), unload_col
            load_col = set(load_col) | needed | {id_field}
        elif source == "inter" and int(self._setting("user_history_len") or 0) > 0:
            if self.time_field and self.time_field in self._header_fields("inter"):
                load_col = set(load_col) | {self.time_field}
        return load_col, unload_col

    def _load_feat(self, filepath, source):
        load_col, _ = self._get_load_and_unload_col(source)
        if load_col == set():
            return None
        checked = self._check_file(filepath)
        if checked.repaired is None:
            return super()._load_feat(filepath, source)
        with tempfile.TemporaryDirectory(prefix="recbole_llmkg_") as tmp:
            clean = os.path.join(tmp, os.path.basename(filepath))
            encoding = self.config["encoding"] or "utf-8"
            with open(clean, "w", encoding=encoding, errors="replace") as f:
                f.write(checked.repaired)
            return super()._load_feat(clean, source)

    def _check_file(self, filepath: str) -> AtomicFile:
        """Run the atomic-file checks on ``filepath``; the result is kept by path."""
        checked = check_atomic_file(
            filepath,
            self.config["field_separator"],
            self.config["encoding"] or "utf-8",
            required=required_columns(self.config, filepath),
        )
        self._checked_files[filepath] = checked
        return checked

    def _load_data(self, token, dataset_path):
        super()._load_data(token, dataset_path)
        for kind in ("item", "user"):
            needed = self._text_fields_needed(kind)
            feat = getattr(self, f"{kind}_feat")
            loaded = set(feat.columns) if feat is not None else set()
            template = self._setting(self._template_key(kind))
            in_template = set(template_fields(str(template))) if template is not None else set()
            for field in sorted((needed or set()) - loaded):
                key = self._template_key(kind) if field in in_template else "item_title_field"
                path = self._atomic_path(kind)
                where = (
                    f"file '{path}' (its columns: {', '.join(self._header_fields(kind))})"
                    if os.path.isfile(path)
                    else f"file '{path}', which does not exist"
                )
                raise ConfigError(
                    f"Config key '{key}' names field '{field}', which is not loaded from {where}. "
                    f"Fix '{key}' in your YAML (e.g. properties/dataset/{self.dataset_name}.yaml) "
                    f"or add the column; check also 'unload_col'."
                )

    # -- texts --------------------------------------------------------------------------------
    def _data_processing(self):
        super()._data_processing()
        self._text_memo: dict[str, Any] = {}
        self._item_metadata_list = self._build_texts("item")
        self._user_metadata_list = self._build_texts("user")
        self._item_knowledge_list = self._knowledge_texts("item")
        self._user_knowledge_list = self._knowledge_texts("user")
        self._item_text_list = self._view_texts("item")
        self._user_profile_list = self._view_texts("user")
        title = self._setting("item_title_field")
        self._item_title_list = (
            self._render_rows("item", "{" + str(title) + "}", quiet=True)
            if title
            else self._item_metadata_list
        )

    # -- knowledge ----------------------------------------------------------------------------
    def text_view(self, kind: str = "item") -> str:
        """The configured view of ``kind`` texts (``item_text_view`` / ``user_text_view``)."""
        key = f"{kind}_text_view"
        view = str(self._setting(key))
        require_choice(key, view, ITEM_TEXT_VIEWS if kind == "item" else USER_TEXT_VIEWS)
        return view

    def _knowledge_texts(self, kind: str) -> list[str | None] | None:
        """Knowledge text per id (``None`` where the file has none); ``None`` when the view does
        not read knowledge. A missing file is a :class:`ConfigError` naming where it looked."""
        if self.text_view(kind) == "metadata":
            return None
        folder = self._setting("knowledge_dir")
        path = find_knowledge_file(self.dataset_path, self.dataset_name, folder, kind)
        if path is None:
            looked = " and ".join(f"'{p}'" for p in knowledge_candidates(
                self.dataset_path, self.dataset_name, folder, kind))
            raise ConfigError(
                f"Config key '{kind}_text_view' = {self.text_view(kind)} needs a {kind} knowledge "
                f"file; none at {looked}. Write one with `recbole-llmkg knowledge import` or "
                f"`knowledge generate`, set 'knowledge_dir', or set '{kind}_text_view: metadata'."
            )
        texts = read_knowledge(path, kind)
        id_field = self.iid_field if kind == "item" else self.uid_field
        token2id = self.field2token_id[id_field]
        warn_unknown(path, texts, token2id, kind)
        num = self.item_num if kind == "item" else self.user_num
        out: list[str | None] = [None] * num
        for token, text in texts.items():
            if token in token2id and token2id[token] > 0:
                out[token2id[token]] = text
        covered = sum(t is not None for t in out)
        logger.info(
            "%s texts: view '%s', knowledge for %d of %d %ss from '%s' (the others keep their "
            "metadata text).", kind.capitalize(), self.text_view(kind), covered, num - 1, kind,
            path,
        )
        return out

    def _view_texts(self, kind: str) -> list[str]:
        """The one text per id of the view (``separate``: the combined text, for the encoders
        that read one text per item, e.g. fine-tuning)."""
        metadata = self._item_metadata_list if kind == "item" else self._user_metadata_list
        knowledge = self._item_knowledge_list if kind == "item" else self._user_knowledge_list
        if knowledge is None:
            return list(metadata)
        view = self.text_view(kind)
        template = str(self._setting("knowledge_combined_template"))
        texts = [PAD_TEXT]
        for meta, know in zip(metadata[1:], knowledge[1:], strict=True):
            if know is None:
                texts.append(meta)
            elif view == "knowledge":
                texts.append(know)
            else:
                texts.append(template.format_map({"metadata": meta, "knowledge": know}))
        return texts

    def item_knowledge_texts(self) -> list[str | None]:
        """Knowledge text per item id (``None`` where there is none, or no knowledge view)."""
        if self._item_knowledge_list is None:
            return [None] * self.item_num
        return list(self._item_knowledge_list)

    @property
    def text_view_count(self) -> int:
        """Views side by side in one item text embedding: 2 for ``separate``, else 1."""
        return 2 if self.text_view("item") == "separate" else 1

    def _field_values(self, feat: Any, field: str) -> list:
        """Per-row values of a field as strings / lists of strings, ``None`` where missing."""
        ftype = self.field2type[field]
        values = column(feat, field)
        if ftype == FeatureType.TOKEN:
            ids = values.astype(np.int64)
            tokens = np.asarray(self.field2id_token[field])[ids].astype(object)
            tokens[ids == 0] = None
            return list(tokens)
        if ftype == FeatureType.TOKEN_SEQ:
            id2token = np.asarray(self.field2id_token[field])
            return [
                list(id2token[np.asarray(v, dtype=np.int64)[np.asarray(v) > 0]]) for v in values
            ]
        if ftype == FeatureType.FLOAT:
            return [None if np.isnan(v) else f"{v:g}" for v in values.astype(float)]
        return [[f"{x:g}" for x in np.asarray(v, dtype=float)] for v in values]

    def _render_rows(self, kind: str, template: str, quiet: bool = False) -> list[str]:
        feat = getattr(self, f"{kind}_feat")
        num = self.item_num if kind == "item" else self.user_num
        placeholder = str(self._setting("text_placeholder"))
        fields = template_fields(template)
        columns = {f: self._field_values(feat, f) for f in fields}
        texts, empty = [PAD_TEXT], np.zeros(num, dtype=bool)
        for row in range(1, num):
            text, empty[row] = render(template, {f: columns[f][row] for f in fields}, placeholder)
            texts.append(text)
        if not quiet:
            self._warn_missing_text(kind, columns, empty, placeholder)
        return texts

    def _warn_missing_text(
        self, kind: str, columns: dict[str, list], empty: np.ndarray, placeholder: str
    ) -> None:
        """One warning for texts with no value at all, one for texts missing some fields."""
        id_field = self.iid_field if kind == "item" else self.uid_field
        tokens = np.asarray(self.field2id_token[id_field], dtype=object)
        num = len(empty)
        if empty.any():
            logger.warning(
                "%d of %d %s texts are empty (no value in any of the fields %s; e.g. %s %s); they "
                "use the placeholder text '%s' (config key 'text_placeholder').",
                int(empty.sum()), num - 1, kind, ", ".join(columns), id_field,
                _examples(tokens[empty]), placeholder,
            )
        parts = []
        for field, values in columns.items():
            missing = np.array([not v for v in values], dtype=bool)  # None, "" or []
            missing[0] = False
            missing &= ~empty
            if missing.any():
                parts.append(
                    f"{field}: {int(missing.sum())} (e.g. {id_field} {_examples(tokens[missing])})"
                )
        if parts:
            logger.warning(
                "Some %s texts miss a field and show the placeholder '%s' in its place: %s.",
                kind, placeholder, "; ".join(parts),
            )

    def _build_texts(self, kind: str) -> list[str]:
        template = self._setting(self._template_key(kind))
        feat = getattr(self, f"{kind}_feat")
        id_field = self.iid_field if kind == "item" else self.uid_field
        if template is None:
            fields = [
                f
                for f in (feat.columns if feat is not None else [])
                if f != id_field and self.field2type.get(f) in _TEXT_TYPES
            ]
            if not fields:
                logger.warning(
                    "No '%s' configured and no token fields loaded from '%s': %s "
                    "texts are their ids ('%s: <id>').",
                    self._template_key(kind),
                    self._atomic_path(kind),
                    kind,
                    id_field,
                )
                tokens = self.field2id_token[id_field]
                return [PAD_TEXT] + [f"{id_field}: {t}" for t in tokens[1:]]
            template = default_template(fields)
            logger.warning(
                "No '%s' configured: %s texts are built from the loaded fields as '%s'.",
                self._template_key(kind),
                kind,
                template,
            )
        return self._render_rows(kind, str(template))

    def item_texts(self) -> list[str]:
        """Item texts; index = RecBole item id (0 = padding placeholder)."""
        return list(self._item_text_list)

    def _history_len(self) -> int:
        return int(self._setting("user_history_len") or 0)

    def user_texts(self) -> list[str]:
        """User texts; index = RecBole user id (0 = padding placeholder).

        With ``user_history_len > 0`` each text also lists the titles of the user's most recent
        interactions in *this* dataset's ``inter_feat`` (newest first; by timestamp when loaded,
        else by row order).
        """
        length = self._history_len()
        if length <= 0:
            return list(self._user_profile_list)
        memo = self._text_memo.get("user_texts")
        if memo is not None and memo[0] is self.inter_feat:
            return list(memo[1])
        users = column(self.inter_feat, self.uid_field).astype(np.int64)
        items = column(self.inter_feat, self.iid_field).astype(np.int64)
        if self.time_field and self.time_field in self.inter_feat.columns:
            recency = column(self.inter_feat, self.time_field).astype(np.float64)
        else:
            recency = np.arange(len(users), dtype=np.float64)
        order = np.lexsort((-recency, users))  # by user, newest first
        users, items = users[order], items[order]
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        rank = np.arange(len(users)) - np.repeat(starts, np.diff(np.r_[starts, len(users)]))
        keep = rank < length
        users, items = users[keep], items[keep]
        bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
        titles = self._item_title_list
        template = str(self._setting("user_history_template"))
        texts = list(self._user_profile_list)
        for start, end in zip(bounds[:-1], bounds[1:], strict=True):
            history = "; ".join(titles[i] for i in items[start:end])
            texts[users[start]] = template.format_map(
                {"user": texts[users[start]], "history": history}
            )
        self._text_memo["user_texts"] = (self.inter_feat, texts)
        return list(texts)

    # -- embeddings ---------------------------------------------------------------------------
    def _encode(self, name: str, texts: list[str], view: str = "metadata") -> torch.Tensor:
        """Embed ``texts[1:]`` (row 0 = zeros) through the content-keyed cache and the encoder."""
        enc = settings.encoder_settings(self.config)
        path = enc["model_path"]
        if not os.path.isdir(path):
            raise ConfigError(
                f"llm_model_path '{path}' does not exist or is not a folder; set "
                "the config key 'llm_model_path' to a local Hugging Face model."
            )

        devices = settings.encode_devices(self.config, self._device())

        def encode(batch: list[str]) -> torch.Tensor:
            encoders = [get_encoder(device=device,
                                    show_progress=bool(self.config["show_progress"]),
                                    progress_min_texts=self._setting("llm_progress_min_texts"),
                                    **enc)
                        for device in devices]
            return encode_across(encoders, batch)

        body = list(texts[1:])
        folder = settings.cache_dir(self.config)
        if folder is None:
            emb = encode(body)
        else:
            key = {k: v for k, v in enc.items() if k not in ("batch_size", "model_path")}
            key.update(model=model_fingerprint(path), precision=forward_precision(devices[0]),
                       view=view)
            emb = EmbeddingCache(folder).get_or_compute(key, body, encode, what=name)
        return torch.cat([torch.zeros(1, emb.shape[1]), emb.float()])

    def _precomputed(self, kind: str) -> torch.Tensor | None:
        path = self._atomic_path(f"{kind}emb")
        if not os.path.isfile(path):
            return None
        id_field = self.iid_field if kind == "item" else self.uid_field
        num = self.item_num if kind == "item" else self.user_num
        return load_precomputed(
            path,
            id_field,
            self.field2token_id[id_field],
            num,
            self.config["field_separator"],
            self.config["seq_separator"],
            self.config["encoding"] or "utf-8",
        )

    def _device(self) -> torch.device:
        return torch.device(self.config["device"] or "cpu")

    def _item_embeddings_cpu(self) -> tuple[torch.Tensor, str]:
        memo = self._text_memo.get("item_emb")
        if memo is None:
            emb = self._precomputed("item")
            source = self._atomic_path("itememb")
            if emb is None:
                emb = self._encode_item_view()
                source = "the text encoder"
            elif self.text_view("item") != "metadata":
                logger.warning("'%s' replaces the text encoder, so item_text_view '%s' is not "
                               "used.", source, self.text_view("item"))
            memo = self._text_memo["item_emb"] = (emb, source)
        return memo

    def _encode_item_view(self) -> torch.Tensor:
        """Item embeddings of the configured view (``separate``: metadata and knowledge-or-
        metadata embeddings concatenated, each scaled by 1/sqrt(2))."""
        view = self.text_view("item")
        if view != "separate":
            return self._encode("item", self._item_text_list, view)
        knowledge = [m if k is None else k for m, k in
                     zip(self._item_metadata_list, self._item_knowledge_list, strict=True)]
        parts = [self._encode("item", self._item_metadata_list, "metadata"),
                 self._encode("item knowledge", knowledge, "knowledge")]
        return torch.cat(parts, dim=1) / 2 ** 0.5

    def item_text_embeddings(self) -> torch.Tensor:
        """``[item_num, d]`` float32 text embeddings of items (row 0 zeros), on config device.

        Items do not depend on the split, so the result is shared by all split copies.
        """
        return self._item_embeddings_cpu()[0].to(self._device())

    def user_text_embeddings(self) -> torch.Tensor:
        """``[user_num, d]`` float32 text embeddings of users (row 0 zeros), on config device.

        Built from *this* dataset's ``inter_feat`` when ``user_history_len > 0``: call it on the
        training split.
        """
        depends = self._history_len() > 0
        memo = self._text_memo.get("user_emb")
        if memo is not None and (not depends or memo[0] is self.inter_feat):
            return memo[1].to(self._device())
        emb = self._precomputed("user")
        if emb is not None:
            source = self._atomic_path("useremb")
        else:
            emb = self._encode("user", self.user_texts(), self.text_view("user"))
            source = "the text encoder"
        item_emb, item_source = None, None
        if source != "the text encoder" or os.path.isfile(self._atomic_path("itememb")):
            item_emb, item_source = self._item_embeddings_cpu()  # widths may differ: check
        if item_emb is not None and emb.shape[1] != item_emb.shape[1]:
            raise DataError(
                f"User text embeddings are {emb.shape[1]}-d (from {source}) but item "
                f"text embeddings are {item_emb.shape[1]}-d (from {item_source}); "
                "both must have the same width."
            )
        self._text_memo["user_emb"] = (self.inter_feat if depends else None, emb)
        return emb.to(self._device())

    @property
    def text_dim(self) -> int:
        """Width ``d`` of the text embeddings."""
        return int(self._item_embeddings_cpu()[0].shape[1])
