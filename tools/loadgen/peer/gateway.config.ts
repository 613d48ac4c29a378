// Hive Gateway settings for the peer. Everything is Hive's default except what is written here.
// Info-level logging prints start-up lines only, never a line per request, so it stays on.
import { defineConfig } from '@graphql-hive/gateway';

export const gatewayConfig = defineConfig({
  supergraph: './supergraph.graphql',
  logging: 'info',
});
