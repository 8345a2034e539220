import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  deregisterCluster,
  drainCluster,
  getCluster,
  listClusters,
  provisionCluster,
  registerCluster,
  updateCluster,
} from '../../lib/clusters.js';
import type { ClusterDeleter } from '../../lib/cluster-deletion.js';
import type { Context } from '../../lib/context.js';
import type { Provisioner } from '../../lib/provisioning.js';
import { Body, Cluster, ClusterParams, ClusterPatchBody, errors, NewClusterBody } from '../schemas.js';

const tags = ['clusters'];

/** Worker database clusters and what the platform runs on. */
export const clusterRoutes: FastifyPluginAsyncTypebox<{
  ctx: Context;
  provisioner: Provisioner;
  clusterDeleter: ClusterDeleter;
}> = async (app, { ctx, provisioner, clusterDeleter }) => {
  app.get(
    '/v1/clusters',
    { schema: { tags, summary: 'List worker clusters', response: { 200: Type.Array(Cluster), ...errors } } },
    () => listClusters(ctx),
  );

  app.post(
    '/v1/clusters',
    {
      schema: {
        tags,
        summary: 'Register a worker cluster (its admin credential is checked, then stored encrypted)',
        body: NewClusterBody,
        response: { 201: Cluster, ...errors },
      },
    },
    async (request, reply) => {
      const cluster = await registerCluster(ctx, request.body);
      if (cluster.status === 'active') provisioner.refill(cluster.id);
      return reply.status(201).header('location', `/v1/clusters/${cluster.id}`).send(cluster);
    },
  );

  app.post(
    '/v1/clusters/provision',
    {
      schema: {
        tags,
        summary: 'Create a worker cluster through the provider (AWS: Aurora Serverless v2), then register it',
        body: Body({
          name: Type.String({ maxLength: 100 }),
          capacity: Type.Integer({ minimum: 0, maximum: 100_000 }),
          region: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          min_capacity: Type.Optional(Type.Number({ minimum: 0, maximum: 256 })),
          max_capacity: Type.Optional(Type.Number({ minimum: 0.5, maximum: 256 })),
          ssl: Type.Optional(Type.Boolean({ description: 'Default: true with the aws provider' })),
        }),
        response: { 201: Cluster, ...errors },
      },
    },
    async (request, reply) => {
      const cluster = await provisionCluster(ctx, request.body);
      provisioner.refill(cluster.id);
      return reply.status(201).header('location', `/v1/clusters/${cluster.id}`).send(cluster);
    },
  );

  app.get(
    '/v1/clusters/:id',
    {
      schema: {
        tags,
        summary: 'Get a worker cluster',
        params: ClusterParams,
        response: { 200: Cluster, ...errors },
      },
    },
    (request) => getCluster(ctx, request.params.id),
  );

  app.patch(
    '/v1/clusters/:id',
    {
      schema: {
        tags,
        summary: 'Update capacity, weight, region, status or credentials',
        params: ClusterParams,
        body: ClusterPatchBody,
        response: { 200: Cluster, ...errors },
      },
    },
    (request) => updateCluster(ctx, request.params.id, request.body),
  );

  app.post(
    '/v1/clusters/:id/drain',
    {
      schema: {
        tags,
        summary: 'Stop placing new projects on a cluster',
        params: ClusterParams,
        response: { 200: Cluster, ...errors },
      },
    },
    (request) => drainCluster(ctx, request.params.id),
  );

  app.delete(
    '/v1/clusters/:id',
    {
      schema: {
        tags,
        summary: 'Deregister a drained worker cluster with no live project',
        description:
          'A cluster the provider created (e.g. Aurora) is deleted there as well: the answer is 202 with the ' +
          'cluster in `deleting`, and it disappears once the provider has deleted it (retried until then, ' +
          '`last_error` saying why). `keep_server=true`, or a cluster registered by hand, only deregisters: 204.',
        params: ClusterParams,
        querystring: Type.Object({ keep_server: Type.Optional(Type.Boolean()) }),
        response: { 202: Cluster, 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const cluster = await deregisterCluster(ctx, id, { keepServer: request.query.keep_server ?? false });
      if (!cluster) return reply.status(204).send(null);
      void clusterDeleter.start(id);
      return reply.status(202).send(cluster);
    },
  );

  app.get(
    '/v1/platform/status',
    {
      schema: {
        tags: ['platform'],
        summary: 'Running/desired counts of the platform services',
        response: {
          200: Type.Object({
            provider: Type.String(),
            services: Type.Array(
              Type.Object({
                name: Type.String(),
                status: Type.String(),
                running: Type.Integer(),
                desired: Type.Integer(),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async () => {
      if (ctx.provider.platform) {
        return { provider: ctx.provider.name, services: await ctx.provider.platform.describeServices() };
      }
      const clusters = await listClusters(ctx);
      return {
        provider: ctx.provider.name,
        services: [
          { name: 'tenant-manager', status: 'ACTIVE', running: 1, desired: 1 },
          ...clusters.map((c) => ({
            name: `cluster:${c.name}`,
            status: c.status.toUpperCase(),
            running: c.project_count,
            desired: c.capacity,
          })),
        ],
      };
    },
  );
};
