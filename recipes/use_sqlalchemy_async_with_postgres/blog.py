"""Authors and their posts with SQLAlchemy 2's asyncio ORM on PostgreSQL (asyncpg).

Each service function takes the ``AsyncSession`` to work in and commits its own
work, as a request handler does. The application's sessions are made with
``expire_on_commit=False``: an object returned after a commit stays readable
without another query, which async code could not run from a plain attribute.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(AsyncAttrs, DeclarativeBase):
    """AsyncAttrs gives every model ``await obj.awaitable_attrs.<name>``: a lazy load that can be awaited."""


class Author(Base):
    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str]
    posts: Mapped[list[Post]] = relationship(back_populates="author", order_by="Post.id")


class Post(Base):
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    title: Mapped[str]
    author: Mapped[Author] = relationship(back_populates="posts")


class DuplicateEmailError(Exception):
    """An author with this email exists already; nothing was written."""


class UnknownAuthorError(LookupError):
    """No author has this email."""


async def register(session: AsyncSession, email: str, name: str) -> Author:
    author = Author(email=email, name=name)
    session.add(author)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()  # the session is unusable until then; it also expires every loaded object
        raise DuplicateEmailError(f"an author with email {email!r} already exists") from exc
    return author


async def find_author(session: AsyncSession, email: str) -> Author:
    """The author with their posts loaded up front: reading ``author.posts`` needs no more I/O."""
    query = select(Author).where(Author.email == email).options(selectinload(Author.posts))
    author = await session.scalar(query)
    if author is None:
        raise UnknownAuthorError(f"no author with email {email!r}")
    return author


async def publish(session: AsyncSession, email: str, title: str) -> Post:
    author = await find_author(session, email)
    post = Post(author=author, title=title)
    session.add(post)
    await session.commit()
    return post
