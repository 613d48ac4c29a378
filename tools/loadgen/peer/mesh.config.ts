// Peer gateway for side-by-side benchmarks: GraphQL Mesh's gRPC source composed from the
// repository's .proto files (deterministic: no server reflection), served by Hive Gateway.
//
// Endpoints are NOT baked in: each subgraph's endpoint is the literal `{env.X_GRPC}`, which the
// gRPC transport interpolates when the gateway starts, so one composed supergraph serves
// whatever ports the platform got. Set PILOTS_GRPC, VOUCHERS_GRPC, ONBOARDING_GRPC and
// OUTCOMES_GRPC (host:port, no scheme) in the gateway's environment.
//
// The incoming request's `authorization` header is forwarded to every gRPC call as metadata.
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadGrpcSubgraph } from '@omnigraph/grpc';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

// The repository's proto root (holds axv/<service>/v1/*.proto); override with AXV_PROTO_DIR.
const protoDir = process.env.AXV_PROTO_DIR || fileURLToPath(new URL('../../../proto', import.meta.url));

const services = [
  { name: 'pilots', env: 'PILOTS_GRPC' },
  { name: 'vouchers', env: 'VOUCHERS_GRPC' },
  { name: 'onboarding', env: 'ONBOARDING_GRPC' },
  { name: 'outcomes', env: 'OUTCOMES_GRPC' },
];

export const composeConfig = defineConfig({
  output: 'supergraph.graphql',
  subgraphs: services.map(({ name, env }) => ({
    sourceHandler: loadGrpcSubgraph(name, {
      endpoint: `{env.${env}}`,
      source: {
        file: path.join(protoDir, `axv/${name}/v1/${name}.proto`),
        load: { includeDirs: [protoDir] },
      },
      metaData: {
        authorization: '{context.headers.authorization}',
      },
    }),
  })),
});
