"""A person the skill exchange can suggest, as Port's people blueprint describes them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Person(BaseModel):
    """Someone who can be asked for help, as the people blueprint in Port describes them."""

    model_config = ConfigDict(frozen=True)

    identifier: str
    email: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str
    skills: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    ownedServices: list[str] = Field(default_factory=list)
    available: bool = True
