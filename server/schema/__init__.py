"""The GraphQL schema: types, inputs, typed errors, queries, mutations and dataloaders."""
