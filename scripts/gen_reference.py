#!/usr/bin/env python3
"""Regenerate the reference pages of the docs site from their sources, or with --check fail if
either is stale.

docs/reference/api.md is made from the proto files' descriptors and their comments, with the
path each RPC has on the JSON API; docs/reference/configuration.md from deskhook.config's
Settings and the flags of `deskhook serve`, where each setting's description is written. Both
pages are committed and never edited by hand: this script is the only thing that writes them.
"""

import argparse
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal, get_args, get_origin

from annotated_types import Ge, Le
from google.protobuf import descriptor_pool
from google.protobuf.descriptor_pb2 import (
    DescriptorProto,
    EnumDescriptorProto,
    FieldDescriptorProto,
    FileDescriptorProto,
    FileDescriptorSet,
    OneofDescriptorProto,
    ServiceDescriptorProto,
)
from grpc_tools import protoc
from pydantic.fields import FieldInfo

from deskhook.api.json_api import STREAM_CODECS, UNARY_CODECS, Method, served_methods
from deskhook.cli.serve import SETTING_FLAGS, SettingFlag
from deskhook.config import CONFIG_ENV, Settings, environment_variable

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
API_PAGE = Path("docs/reference/api.md")
CONFIGURATION_PAGE = Path("docs/reference/configuration.md")
FIX = "Regenerate with .venv/bin/python scripts/gen_reference.py and commit the page."
PACKAGE = "deskhook.v1"
WELL_KNOWN_TYPES = "https://protobuf.dev/reference/protobuf/google.protobuf/"
CONNECT_PROTOCOL = "https://connectrpc.com/docs/protocol"

# Field numbers in descriptor.proto, which name a declaration in SourceCodeInfo's paths.
FILE_MESSAGES, FILE_ENUMS, FILE_SERVICES = 4, 5, 6
MESSAGE_FIELDS, MESSAGE_NESTED, MESSAGE_ENUMS, MESSAGE_ONEOFS = 2, 3, 4, 8
ENUM_VALUES = 2
SERVICE_METHODS = 2

DeclarationPath = tuple[int, ...]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check the pages for drift")
    options = parser.parse_args()
    pages = render_pages()
    if options.check:
        stale = stale_pages(pages)
        if stale:
            print("stale reference pages:", *stale, sep="\n  ", file=sys.stderr)
            sys.exit(FIX)
        print("the reference pages match their sources")
        return
    for page, text in pages.items():
        (ROOT / page).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / page).write_text(text)
    print("wrote", *pages)


def render_pages() -> dict[Path, str]:
    return {API_PAGE: render_api(read_protos()), CONFIGURATION_PAGE: render_configuration()}


def stale_pages(pages: Mapping[Path, str], root: Path = ROOT) -> list[str]:
    """The pages whose file under `root` differs from what this script writes, each with why."""
    stale = []
    for page, text in pages.items():
        path = root / page
        if not path.exists():
            stale.append(f"{page} (missing)")
        elif path.read_text() != text:
            stale.append(f"{page} (differs from its sources)")
    return stale


# The API reference.


def read_protos() -> FileDescriptorSet:
    """The descriptors of protos/ and of everything they import, with their comments."""
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "protos.binpb"
        args = [
            "grpc_tools.protoc",
            f"--proto_path={PROTOS}",
            f"--proto_path={files('grpc_tools') / '_proto'}",
            "--include_source_info",
            "--include_imports",
            f"--descriptor_set_out={out}",
            *sources,
        ]
        if protoc.main(args) != 0:
            sys.exit("protoc failed")
        return FileDescriptorSet.FromString(out.read_bytes())


@dataclass(frozen=True)
class ProtoFile:
    """One of our proto files, with its comments by declaration path."""

    proto: FileDescriptorProto
    comments: Mapping[DeclarationPath, str]

    @classmethod
    def of(cls, proto: FileDescriptorProto) -> "ProtoFile":
        return cls(
            proto,
            {
                tuple(location.path): location.leading_comments
                for location in proto.source_code_info.location
                if location.leading_comments
            },
        )

    def paragraphs(self, path: DeclarationPath) -> list[str]:
        """The comment above a declaration: paragraphs, each on one line, so that a wrapped
        line never starts a Markdown list or heading."""
        text = self.comments.get(path, "")
        blocks = "\n".join(line.removeprefix(" ") for line in text.splitlines()).split("\n\n")
        return [" ".join(block.split()) for block in blocks if block.strip()]

    def cell(self, path: DeclarationPath) -> str:
        """The comment above a declaration, for a table cell."""
        return _cell("<br><br>".join(self.paragraphs(path)))


def render_api(descriptors: FileDescriptorSet) -> str:
    ours = [ProtoFile.of(f) for f in descriptors.file if f.package == PACKAGE]
    pool = descriptor_pool.DescriptorPool()
    for proto in descriptors.file:
        pool.Add(proto)
    services = [
        pool.FindServiceByName(f"{PACKAGE}.{service.name}")
        for file in ours
        for service in file.proto.service
    ]
    served = served_methods(*services)
    lines = [
        "<!-- Generated by scripts/gen_reference.py from protos/: edit the protos, then run it."
        " -->",
        "",
        "# gRPC and JSON API reference",
        "",
        f"The services, messages and enums of the `{PACKAGE}` package, from the proto files in"
        " `protos/deskhook/v1/`, whose comments are the text. Types named `google.protobuf.*`"
        f" are protobuf's [well-known types]({WELL_KNOWN_TYPES}).",
        "",
        _json_api_intro(),
        "",
        "## Services",
    ]
    for file in ours:
        for index, service in enumerate(file.proto.service):
            lines += _service(file, (FILE_SERVICES, index), service, served)
    lines += ["", "## Messages"]
    for file in ours:
        for index, message in enumerate(file.proto.message_type):
            lines += _message(file, (FILE_MESSAGES, index), message, PACKAGE)
    lines += ["", "## Enums"]
    for file in ours:
        for index, enum in enumerate(file.proto.enum_type):
            lines += _enum(file, (FILE_ENUMS, index), enum, PACKAGE)
    return "\n".join(lines) + "\n"


def _json_api_intro() -> str:
    console_listen = Settings.model_fields["console_listen"].default
    return (
        "Every RPC is served over gRPC. Those that HTTP/1.1 can carry are served too by the JSON"
        " API on the console's port ([`console_listen`](configuration.md#console_listen),"
        f" default `{console_listen}`), as `POST /<package.Service>/<Method>` in the"
        f" [Connect protocol]({CONNECT_PROTOCOL}): a unary call takes and answers"
        f" {_either(UNARY_CODECS)}, a server stream {_either(STREAM_CODECS)}."
        " [The APIs](../api.md) shows both in use."
    )


def _cell(text: str) -> str:
    return text.replace("|", r"\|")


def _either(codecs: Iterable[str]) -> str:
    return " or ".join(f"`{content_type}`" for content_type in codecs)


def _heading(level: int, full_name: str, title: str) -> list[str]:
    # An anchor of the full name, which neither site's heading slugs can collide with.
    return ["", f'<a id="{full_name}"></a>', "", f"{'#' * level} {title}"]


def _text(file: ProtoFile, path: DeclarationPath) -> list[str]:
    return [line for paragraph in file.paragraphs(path) for line in ("", paragraph)]


def _service(
    file: ProtoFile,
    path: DeclarationPath,
    service: ServiceDescriptorProto,
    served: Mapping[str, Method],
) -> list[str]:
    full_name = f"{PACKAGE}.{service.name}"
    lines = [*_heading(3, full_name, service.name), *_text(file, path)]
    for index, method in enumerate(service.method):
        route = f"/{full_name}/{method.name}"
        json_api = served.get(route)
        if json_api is None:
            call = "none: gRPC only, as HTTP/1.1 cannot carry a client stream"
        else:
            kind = "server stream" if json_api.server_streaming else "unary"
            call = f"`POST {route}` ({kind})"
        request = _stream(method.client_streaming) + _type_link(method.input_type)
        response = _stream(method.server_streaming) + _type_link(method.output_type)
        lines += _heading(4, f"{full_name}.{method.name}", method.name)
        lines += _text(file, (*path, SERVICE_METHODS, index))
        lines += [
            "",
            "| request | response | JSON API |",
            "|---|---|---|",
            f"| {request} | {response} | {call} |",
        ]
    return lines


def _stream(streaming: bool) -> str:
    return "stream " if streaming else ""


def _type_link(type_name: str) -> str:
    full_name = type_name.removeprefix(".")
    if full_name.startswith(f"{PACKAGE}."):
        return f"[{full_name.removeprefix(f'{PACKAGE}.')}](#{full_name})"
    return f"`{full_name}`"


def _message(
    file: ProtoFile, path: DeclarationPath, message: DescriptorProto, scope: str
) -> list[str]:
    full_name = f"{scope}.{message.name}"
    lines = [*_heading(3, full_name, full_name.removeprefix(f"{PACKAGE}.")), *_text(file, path)]
    lines += ["", f"Defined in `{file.proto.name}`."]
    if message.field:
        lines += [
            "",
            "| field | JSON name | type | label | description |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{field.name}` | `{field.json_name}` | {_field_type(field)}"
            f" | {_label(message, field)} | {file.cell((*path, MESSAGE_FIELDS, index))} |"
            for index, field in enumerate(message.field)
        ]
    else:
        lines += ["", "No fields."]
    for index, oneof in _real_oneofs(message):
        comment = " ".join(file.paragraphs((*path, MESSAGE_ONEOFS, index)))
        members = ", ".join(
            f"`{field.name}`"
            for field in message.field
            if field.HasField("oneof_index") and field.oneof_index == index
        )
        lines += ["", f"Oneof `{oneof.name}` ({members}): {comment}"]
    for index, nested in enumerate(message.nested_type):
        lines += _message(file, (*path, MESSAGE_NESTED, index), nested, full_name)
    for index, enum in enumerate(message.enum_type):
        lines += _enum(file, (*path, MESSAGE_ENUMS, index), enum, full_name)
    return lines


def _real_oneofs(
    message: DescriptorProto,
) -> Iterator[tuple[int, OneofDescriptorProto]]:
    """The oneofs declared as such, not those protoc makes for proto3 `optional` fields."""
    synthetic = {field.oneof_index for field in message.field if field.proto3_optional}
    for index, oneof in enumerate(message.oneof_decl):
        if index not in synthetic:
            yield index, oneof


def _field_type(field: FieldDescriptorProto) -> str:
    if field.type in (FieldDescriptorProto.TYPE_MESSAGE, FieldDescriptorProto.TYPE_ENUM):
        return _type_link(field.type_name)
    return "`" + FieldDescriptorProto.Type.Name(field.type).removeprefix("TYPE_").lower() + "`"


def _label(message: DescriptorProto, field: FieldDescriptorProto) -> str:
    if field.label == FieldDescriptorProto.LABEL_REPEATED:
        return "repeated"
    if field.proto3_optional:
        return "optional"
    if field.HasField("oneof_index"):
        return f"oneof `{message.oneof_decl[field.oneof_index].name}`"
    return ""


def _enum(
    file: ProtoFile, path: DeclarationPath, enum: EnumDescriptorProto, scope: str
) -> list[str]:
    full_name = f"{scope}.{enum.name}"
    lines = [*_heading(3, full_name, full_name.removeprefix(f"{PACKAGE}.")), *_text(file, path)]
    lines += [
        "",
        f"Defined in `{file.proto.name}`.",
        "",
        "| value | number | description |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{value.name}` | {value.number} | {file.cell((*path, ENUM_VALUES, index))} |"
        for index, value in enumerate(enum.value)
    ]
    return lines


# The configuration reference.


@dataclass(frozen=True)
class Setting:
    """A setting as the page shows it: its flag, where its description is written, and its
    field of Settings; `--config` has none, as it names the file the others come from."""

    flag: SettingFlag
    field: FieldInfo | None

    @property
    def title(self) -> str:
        return f"`{self.flag.flag}`" if self.field is None else f"`{self.flag.setting}`"

    @property
    def variable(self) -> str:
        return CONFIG_ENV if self.field is None else environment_variable(self.flag.setting)

    @property
    def default(self) -> str:
        default = None if self.field is None else self.field.default
        if default in (None, "", ()):
            return "none"
        if isinstance(default, bool):
            return f"`{str(default).lower()}`"
        return f"`{default}`"


def render_configuration() -> str:
    settings = [Setting(each, Settings.model_fields.get(each.setting)) for each in SETTING_FLAGS]
    missing = Settings.model_fields.keys() - {each.flag.setting for each in settings}
    if missing:
        sys.exit(f"settings without a flag in deskhook.cli.serve: {', '.join(sorted(missing))}")
    lines = [
        "<!-- Generated by scripts/gen_reference.py from deskhook.config and deskhook.cli.serve:"
        " edit those, then run it. -->",
        "",
        "# Configuration reference",
        "",
        "Every setting of `deskhook serve`. Each comes from its flag, else its environment"
        " variable, else the TOML file named by [`--config`](#config), else its default; lists"
        " are TOML arrays, repeated flags, or comma-separated in the environment. See"
        " [Configuration](../configuration.md) for how a bad value is reported.",
        "",
        "| setting | flag | environment | default |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| [{each.title}](#{each.flag.setting}) | `{each.flag.flag}` | `{each.variable}`"
        f" | {each.default} |"
        for each in settings
    ]
    for each in settings:
        lines += _setting(each)
    return "\n".join(lines) + "\n"


def _setting(setting: Setting) -> list[str]:
    flag, field = setting.flag, setting.field
    rows = []
    if field is not None:
        rows.append(("TOML key", f"`{flag.setting}`, {_toml_value(field)}"))
    # The value outside the code span: a cell's pipe (PATH|URL) is escaped, which GitHub undoes
    # inside code spans too and Python-Markdown does not.
    value = "" if flag.metavar is None else f" {flag.metavar}"
    repeatable = flag.repeatable
    rows += [
        ("flag", f"`{flag.flag}`{value}" + (", repeatable" if repeatable else "")),
        ("environment", f"`{setting.variable}`" + (", comma-separated" if repeatable else "")),
        ("default", setting.default),
    ]
    if field is not None and (limits := bounds(field)):
        rows.append(("bounds", f"{limits[0]} to {limits[1]}"))
    if field is not None and (values := choices(field)):
        rows.append(("choices", ", ".join(f"`{value}`" for value in values)))
    return [
        "",
        f'<a id="{flag.setting}"></a>',
        "",
        f"## {setting.title}",
        "",
        f"{flag.description[0].upper()}{flag.description[1:]}.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {_cell(text)} |" for name, text in rows),
    ]


def _toml_value(field: FieldInfo) -> str:
    if field.annotation is bool:
        return "true or false"
    if field.annotation is int:
        return "an integer"
    if get_origin(field.annotation) is tuple:
        return "an array of strings"
    return "a string"


def bounds(field: FieldInfo) -> tuple[object, object] | None:
    """The least and the greatest value a numeric setting takes."""
    low = [each.ge for each in field.metadata if isinstance(each, Ge)]
    high = [each.le for each in field.metadata if isinstance(each, Le)]
    return (low[0], high[0]) if low and high else None


def choices(field: FieldInfo) -> tuple[str, ...]:
    """The values a setting of a few named values takes."""
    if get_origin(field.annotation) is Literal:
        return tuple(str(value) for value in get_args(field.annotation))
    return ()


if __name__ == "__main__":
    main()
