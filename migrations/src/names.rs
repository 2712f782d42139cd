//! Small builders that keep index and foreign-key naming uniform across migrations.

use sea_orm_migration::prelude::*;

/// A named (optionally unique) index over `cols` of `table`.
pub(crate) fn index<T, C>(
    name: &str,
    table: T,
    cols: impl IntoIterator<Item = C>,
) -> IndexCreateStatement
where
    T: IntoTableRef,
    C: IntoIndexColumn,
{
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(col);
    }
    stmt.take()
}

/// Same as [`index`], unique.
pub(crate) fn unique<T, C>(
    name: &str,
    table: T,
    cols: impl IntoIterator<Item = C>,
) -> IndexCreateStatement
where
    T: IntoTableRef,
    C: IntoIndexColumn,
{
    let mut stmt = index(name, table, cols);
    stmt.unique();
    stmt
}

/// A named foreign key that deletes the child rows with the parent: portals and sites are
/// the roots of everything the bridge stores about them.
pub(crate) fn cascade<FT, FC, TT, TC>(
    name: &str,
    from: (FT, FC),
    to: (TT, TC),
) -> ForeignKeyCreateStatement
where
    FT: IntoTableRef,
    FC: IntoIden,
    TT: IntoTableRef,
    TC: IntoIden,
{
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Cascade)
        .take()
}
