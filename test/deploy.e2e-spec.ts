import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { START_NODE_FLAGS, nodeFlagsOf, startScript } from './support/start-command';

/*
 * The deployment files are configuration, not code: these checks read them as a cluster (schemas, label
 * selectors, ports, shutdown budget) and a load balancer (nginx directives) would, so a typo or a number
 * that no longer adds up fails here rather than in a rollout. Every expectation is derived from the files
 * themselves (the ConfigMap's drain, the container's port, the compose env's ping interval), never from a
 * constant repeated in this spec.
 */

const ROOT = join(__dirname, '..');
const K8S_DIR = join(ROOT, 'deploy', 'k8s');
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const GATEWAY_NAME = 'tts-gateway';
const NAME_LABEL = 'app.kubernetes.io/name';
/** Fixed by nginx's and cloud load balancers' defaults (ingress-nginx proxy-read-timeout 60 s). */
const PROXY_IDLE_TIMEOUT_MS = 60_000;
const SHUTDOWN_MARGIN_S = 5;
/** What the gateway assumes when the variable is unset (CONTRACT: PORT 8080, SHUTDOWN_DRAIN_SECONDS 25, ...). */
const GATEWAY_DEFAULTS = { PORT: '8080', SHUTDOWN_DRAIN_SECONDS: '25', WS_PING_INTERVAL_MS: '15000' };
/** uids of the user names a base image may declare in the Dockerfile's USER. */
const IMAGE_USER_IDS: Record<string, number> = { node: 1000, root: 0 };

type Manifest = { file: string; doc: any };
type Model = new (data: any) => { validate(): void };

const MODELS: Record<string, Model> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

function yamlFiles(): string[] {
  return readdirSync(K8S_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
}

function parseYamlDocs(path: string): { docs: any[]; errors: string[] } {
  const parsed = parseAllDocuments(readFileSync(path, 'utf8'), { merge: true });
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const errors = list.flatMap((d) => [...d.errors, ...d.warnings].map((e) => `${path}: ${e.message}`));
  return { docs: list.map((d) => d.toJS()).filter((doc) => doc != null), errors };
}

function loadManifests(): Manifest[] {
  return yamlFiles()
    .filter((f) => f !== 'kustomization.yaml')
    .flatMap((file) => parseYamlDocs(join(K8S_DIR, file)).docs.map((doc) => ({ file, doc })));
}

const isExample = (file: string) => /\.example\.ya?ml$/.test(file);

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) {
  const wanted = Object.entries(selector ?? {});
  return wanted.length > 0 && wanted.every(([k, v]) => labels?.[k] === v);
}

/** Kubernetes quantities: cpu ("500m", "2") in cores, memory ("512Mi", "1G", "1e9") in bytes. */
function quantity(value: string | number): number {
  const m = /^([0-9.e+]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(value));
  if (!m) throw new Error(`not a Kubernetes quantity: ${value}`);
  const factor: Record<string, number> = {
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  return Number(m[1]) * (m[2] ? factor[m[2]] : 1);
}

/** Compose durations ("35s", "1m30s") and nginx times ("120s", "2m", "120" = seconds) in seconds. */
function seconds(value: string | number): number {
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text);
  const units: Record<string, number> = { ms: 1e-3, s: 1, m: 60, h: 3600, d: 86400 };
  let total = 0;
  let rest = text;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    total += Number(n) * units[unit];
    rest = rest.replace(`${n}${unit}`, '');
  }
  if (rest.trim() !== '' || total === 0) throw new Error(`not a duration: ${value}`);
  return total;
}

function envMap(environment: unknown): Record<string, string> {
  if (Array.isArray(environment)) {
    return Object.fromEntries(
      environment.map((entry: string) => {
        const i = entry.indexOf('=');
        return i < 0 ? [entry, ''] : [entry.slice(0, i), entry.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(environment ?? {}).map(([k, v]) => [k, String(v)]));
}

function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

describe('deploy/k8s manifests', () => {
  const manifests = loadManifests();
  const kustomization = parse(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8'));
  const byKind = (kind: string) => manifests.filter((m) => m.doc.kind === kind).map((m) => m.doc);
  const deployments = byKind('Deployment');
  const gateway = deployments.find((d) => d.spec?.template?.metadata?.labels?.[NAME_LABEL] === GATEWAY_NAME);
  const podSpec = gateway?.spec?.template?.spec;
  const container = podSpec?.containers?.[0];

  /** The gateway's environment as the pod gets it: ConfigMaps named in envFrom, then env values. */
  function gatewayEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const source of container.envFrom ?? []) {
      if (!source.configMapRef) continue;
      const cm = byKind('ConfigMap').find((c) => c.metadata.name === source.configMapRef.name);
      expect(cm).toBeDefined();
      Object.assign(env, cm.data);
    }
    for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    return env;
  }

  function containerPort(c: any, port: string | number): number | undefined {
    return typeof port === 'number' ? port : c.ports?.find((p: any) => p.name === port)?.containerPort;
  }

  it('should parse every YAML document in deploy/k8s without errors', () => {
    const files = yamlFiles();
    expect(files).toContain('kustomization.yaml');
    const errors = files.flatMap((f) => parseYamlDocs(join(K8S_DIR, f)).errors);
    expect(errors).toEqual([]);
    expect(manifests.length).toBeGreaterThan(0);
    for (const { file, doc } of manifests) {
      expect({ file, name: doc.metadata?.name }).toEqual({ file, name: expect.any(String) });
    }
  });

  it('should validate every object against its Kubernetes or KEDA schema', () => {
    const failures: string[] = [];
    for (const { file, doc } of manifests) {
      const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
      if (!Model) {
        failures.push(`${file}: no schema for ${doc.apiVersion} ${doc.kind}`);
        continue;
      }
      try {
        new Model(doc).validate();
      } catch (error) {
        failures.push(`${file} ${doc.kind}/${doc.metadata?.name}: ${(error as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('should list every manifest in kustomization.yaml and only files that exist (examples excepted)', () => {
    expect(kustomization).toMatchObject({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
    });
    const listed: string[] = kustomization.resources ?? [];
    expect(new Set(listed).size).toBe(listed.length);
    const files = yamlFiles().filter((f) => f !== 'kustomization.yaml');
    expect([...listed].sort()).toEqual(files.filter((f) => !isExample(f)));
    // Examples carry placeholder keys or an alternative autoscaler: applying them would do harm.
    expect(listed.filter(isExample)).toEqual([]);
    // No two objects of one kind share a name (the later would silently replace the earlier).
    const ids = manifests
      .filter((m) => !isExample(m.file))
      .map((m) => `${m.doc.kind}/${m.doc.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('should select each Deployment its own pods, and each Service, PDB and NetworkPolicy exactly one workload', () => {
    expect(gateway).toBeDefined();
    for (const d of deployments) {
      expect({
        name: d.metadata.name,
        selects: selects(d.spec.selector.matchLabels, d.spec.template.metadata.labels),
      }).toEqual({ name: d.metadata.name, selects: true });
      expect(d.metadata.labels?.[NAME_LABEL]).toBe(d.spec.template.metadata.labels[NAME_LABEL]);
    }
    const podsOf = (selector: Record<string, string>) =>
      deployments
        .filter((d) => selects(selector, d.spec.template.metadata.labels))
        .map((d) => d.metadata.name);
    for (const svc of byKind('Service')) expect(podsOf(svc.spec.selector)).toHaveLength(1);
    for (const np of byKind('NetworkPolicy')) expect(podsOf(np.spec.podSelector.matchLabels)).toHaveLength(1);
    const pdbs = byKind('PodDisruptionBudget');
    expect(pdbs.length).toBeGreaterThan(0);
    for (const pdb of pdbs) expect(podsOf(pdb.spec.selector.matchLabels)).toEqual([gateway.metadata.name]);
    const gatewayServices = byKind('Service').filter((s) =>
      selects(s.spec.selector, gateway.spec.template.metadata.labels),
    );
    expect(gatewayServices).toHaveLength(1);
    // Redis may be reached only by pods that exist: the policy's "from" must select the gateway.
    for (const np of byKind('NetworkPolicy')) {
      for (const rule of np.spec.ingress ?? []) {
        for (const peer of rule.from ?? []) {
          if (peer.podSelector) expect(podsOf(peer.podSelector.matchLabels).length).toBeGreaterThan(0);
        }
      }
    }
  });

  it('should route the Service port 80 to the container port the gateway listens on (PORT)', () => {
    const env = gatewayEnv();
    const listenPort = Number(env.PORT ?? GATEWAY_DEFAULTS.PORT);
    const svc = byKind('Service').find((s) =>
      selects(s.spec.selector, gateway.spec.template.metadata.labels),
    );
    const port = svc.spec.ports.find((p: any) => p.port === 80);
    expect(port).toBeDefined();
    expect(port.name).toEqual(expect.any(String));
    expect(containerPort(container, port.targetPort ?? port.port)).toBe(listenPort);
    const annotations = gateway.spec.template.metadata.annotations ?? {};
    if (annotations['prometheus.io/port']) expect(Number(annotations['prometheus.io/port'])).toBe(listenPort);
    // Every Service of the folder reaches a declared port of the workload it selects.
    for (const s of byKind('Service')) {
      const target = deployments.find((d) => selects(s.spec.selector, d.spec.template.metadata.labels));
      for (const p of s.spec.ports) {
        const ports = target.spec.template.spec.containers.map((c: any) =>
          containerPort(c, p.targetPort ?? p.port),
        );
        expect({ service: s.metadata.name, port: p.port, reaches: ports.some(Boolean) }).toEqual({
          service: s.metadata.name,
          port: p.port,
          reaches: true,
        });
      }
    }
  });

  it('should probe liveness on /healthz and readiness on /readyz at the listening port', () => {
    const listenPort = Number(gatewayEnv().PORT ?? GATEWAY_DEFAULTS.PORT);
    expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(containerPort(container, container.livenessProbe.httpGet.port)).toBe(listenPort);
    expect(containerPort(container, container.readinessProbe.httpGet.port)).toBe(listenPort);
    if (container.startupProbe?.httpGet) {
      expect(container.startupProbe.httpGet.path).toBe('/healthz');
      expect(containerPort(container, container.startupProbe.httpGet.port)).toBe(listenPort);
    }
  });

  it('should give terminationGracePeriodSeconds room for the preStop sleep, the drain and a margin', () => {
    const env = gatewayEnv();
    expect(env.SHUTDOWN_DRAIN_SECONDS).toMatch(/^\d+$/);
    const drain = Number(env.SHUTDOWN_DRAIN_SECONDS);
    const sleep = container.lifecycle?.preStop?.sleep?.seconds;
    expect(sleep).toEqual(expect.any(Number));
    expect(sleep).toBeGreaterThan(0);
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(sleep + drain + SHUTDOWN_MARGIN_S);
  });

  it('should carry the gateway settings: REDIS_URL at the Redis Service, TRUST_PROXY, LOG_LEVEL, a ping under proxy idle timeouts', () => {
    const env = gatewayEnv();
    const redis = new URL(env.REDIS_URL);
    expect(redis.protocol).toMatch(/^rediss?:$/);
    const redisService = byKind('Service').find((s) => s.metadata.name === redis.hostname);
    expect(redisService).toBeDefined();
    expect(redisService.spec.ports.map((p: any) => p.port)).toContain(Number(redis.port || 6379));
    expect(env.TRUST_PROXY).toEqual(expect.stringMatching(/\S/));
    expect(env.LOG_LEVEL).toMatch(/^(fatal|error|warn|info|debug|trace|silent)$/);
    const ping = Number(env.WS_PING_INTERVAL_MS ?? GATEWAY_DEFAULTS.WS_PING_INTERVAL_MS);
    expect(ping).toBeLessThan(PROXY_IDLE_TIMEOUT_MS);
    // Only variables the gateway knows: each is read in src/ or documented (README, deploy/README).
    const known = [
      readFileSync(join(ROOT, 'README.md'), 'utf8'),
      readFileSync(join(ROOT, 'deploy', 'README.md'), 'utf8'),
      ...readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts'))
        .map((f) => readFileSync(join(ROOT, 'src', f), 'utf8')),
    ].join('\n');
    for (const cm of byKind('ConfigMap')) {
      for (const key of Object.keys(cm.data ?? {})) {
        expect({ key, known: new RegExp(`\\b${key}\\b`).test(known) }).toEqual({ key, known: true });
      }
    }
    // Secrets are optional: the pod starts without one.
    for (const source of container.envFrom ?? [])
      if (source.secretRef) expect(source.secretRef.optional).toBe(true);
    for (const e of container.env ?? [])
      if (e.valueFrom?.secretKeyRef) expect(e.valueFrom.secretKeyRef.optional).toBe(true);
  });

  it('should run every container as non-root, read-only, unprivileged, with seccomp; the gateway as the image user', () => {
    for (const d of deployments) {
      const spec = d.spec.template.spec;
      for (const c of spec.containers) {
        const where = `${d.metadata.name}/${c.name}`;
        const sc = { ...spec.securityContext, ...c.securityContext };
        expect({ where, runAsNonRoot: sc.runAsNonRoot }).toEqual({ where, runAsNonRoot: true });
        // A named image user cannot be checked by the kubelet against runAsNonRoot: a numeric uid is needed.
        expect({ where, uid: sc.runAsUser > 0 }).toEqual({ where, uid: true });
        expect({ where, ro: sc.readOnlyRootFilesystem }).toEqual({ where, ro: true });
        expect({ where, escalation: sc.allowPrivilegeEscalation }).toEqual({ where, escalation: false });
        expect({ where, drop: sc.capabilities?.drop }).toEqual({ where, drop: ['ALL'] });
        expect({ where, seccomp: sc.seccompProfile?.type }).toEqual({ where, seccomp: 'RuntimeDefault' });
      }
    }
    const user = /^USER\s+(\S+)/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
    expect(user).toBeDefined();
    const [name] = user!.split(':');
    const uid = /^\d+$/.test(name) ? Number(name) : IMAGE_USER_IDS[name];
    expect(uid).toEqual(expect.any(Number));
    expect({ ...podSpec.securityContext, ...container.securityContext }.runAsUser).toBe(uid);
    // /tmp is the only writable path of the gateway, and it is an emptyDir.
    const tmp = container.volumeMounts?.find((m: any) => m.mountPath === '/tmp');
    expect(tmp).toBeDefined();
    expect(tmp.readOnly).not.toBe(true);
    expect(podSpec.volumes.find((v: any) => v.name === tmp.name)?.emptyDir).toBeDefined();
  });

  it('should set cpu and memory requests and limits on every container, requests within limits', () => {
    for (const d of deployments) {
      for (const c of d.spec.template.spec.containers) {
        const { requests = {}, limits = {} } = c.resources ?? {};
        for (const r of ['cpu', 'memory']) {
          const where = `${d.metadata.name}/${c.name} ${r}`;
          expect({ where, request: requests[r] !== undefined, limit: limits[r] !== undefined }).toEqual({
            where,
            request: true,
            limit: true,
          });
          expect({ where, within: quantity(requests[r]) <= quantity(limits[r]) }).toEqual({
            where,
            within: true,
          });
        }
      }
    }
  });

  it('should autoscale the gateway Deployment with KEDA on tts_active_streams per pod', () => {
    const scaled = byKind('ScaledObject');
    expect(scaled).toHaveLength(1);
    const [so] = scaled;
    expect(so.spec.scaleTargetRef.name).toBe(gateway.metadata.name);
    expect(so.spec.scaleTargetRef.kind ?? 'Deployment').toBe('Deployment');
    const trigger = so.spec.triggers.find((t: any) => t.type === 'prometheus');
    expect(trigger).toBeDefined();
    const query: string = trigger.metadata.query;
    expect(query).toMatch(/\btts_active_streams\b/);
    // Per pod: a total divided by the replica count (AverageValue, KEDA's default) or an average (Value).
    const metricType = trigger.metricType ?? 'AverageValue';
    expect(query.trim()).toMatch(metricType === 'AverageValue' ? /^sum\s*(by\s*\([^)]*\)\s*)?\(/ : /^avg\b/);
    const namespace = /namespace\s*=\s*"([^"]+)"/.exec(query)?.[1];
    if (kustomization.namespace || namespace) expect(namespace).toBe(kustomization.namespace);
    const threshold = Number(trigger.metadata.threshold);
    expect(threshold).toBeGreaterThan(0);
    const cap = gatewayEnv().MAX_CONCURRENT_STREAMS;
    if (cap) expect(threshold).toBeLessThan(Number(cap));
    // With one pod the PDB cannot let any go: keep at least two.
    expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(2);
    expect(so.spec.maxReplicaCount).toBeGreaterThanOrEqual(so.spec.minReplicaCount);
    // The HPA alternative, where shipped, scales the same Deployment on the same metric.
    for (const hpa of byKind('HorizontalPodAutoscaler')) {
      expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: gateway.metadata.name });
      expect(hpa.spec.metrics.map((m: any) => m.pods?.metric?.name)).toContain('tts_active_streams');
    }
  });

  const itWithKustomize = commandExists('kubectl') ? it : it.skip;
  itWithKustomize(
    'should build with kustomize into the listed objects, all in the kustomization namespace',
    () => {
      const out = spawnSync('kubectl', ['kustomize', K8S_DIR], { encoding: 'utf8' });
      expect(out.stderr).toBe('');
      expect(out.status).toBe(0);
      const built = parseAllDocuments(out.stdout).map((d: any) => d.toJS());
      const listed = manifests.filter((m) => !isExample(m.file));
      expect(built).toHaveLength(listed.length);
      for (const obj of built) {
        if (obj.kind === 'Namespace') expect(obj.metadata.name).toBe(kustomization.namespace);
        else if (kustomization.namespace) expect(obj.metadata.namespace).toBe(kustomization.namespace);
      }
    },
  );
});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true });
  const services: Record<string, any> = compose.services ?? {};
  const active = Object.entries(services).filter(([, s]) => !s.profiles?.length);
  const gateways = active.filter(([, s]) => s.build !== undefined);
  const redis = active.find(([, s]) => /^redis(:|$)/.test(String(s.image)));
  const lb = active.find(([, s]) => /^nginx(:|$)/.test(String(s.image)));
  const nginxConfigPath = () => {
    const mount = (lb![1].volumes ?? [])
      .map((v: any) => (typeof v === 'string' ? v.split(':') : [v.source, v.target]))
      .find(([, target]: string[]) => target === '/etc/nginx/nginx.conf');
    expect(mount).toBeDefined();
    return resolve(ROOT, mount[0]);
  };
  /** nginx.conf without comments, so a commented-out directive does not count. */
  const nginxConf = () =>
    readFileSync(nginxConfigPath(), 'utf8')
      .split('\n')
      .map((line) => line.replace(/(^|\s)#.*$/, ''))
      .join('\n');
  const directives = (conf: string, name: string) =>
    [...conf.matchAll(new RegExp(`(?:^|[\\s;{])${name}\\s+([^;{}]*);`, 'g'))].map((m) => m[1].trim());
  const pingMs = () =>
    Math.max(
      ...gateways.map(([, s]) =>
        Number(envMap(s.environment).WS_PING_INTERVAL_MS ?? GATEWAY_DEFAULTS.WS_PING_INTERVAL_MS),
      ),
    );

  it('should run at least two gateway replicas built from the Dockerfile, a Redis and an nginx load balancer', () => {
    const replicas = gateways.reduce((n, [, s]) => n + (s.deploy?.replicas ?? 1), 0);
    expect(replicas).toBeGreaterThanOrEqual(2);
    for (const [, s] of gateways) {
      const context = typeof s.build === 'string' ? s.build : (s.build.context ?? '.');
      const dockerfile = typeof s.build === 'string' ? 'Dockerfile' : (s.build.dockerfile ?? 'Dockerfile');
      expect(existsSync(resolve(ROOT, context, dockerfile))).toBe(true);
    }
    expect(redis).toBeDefined();
    expect(lb).toBeDefined();
    expect(existsSync(nginxConfigPath())).toBe(true);
    expect(lb![1].ports?.length).toBeGreaterThan(0);
  });

  it('should keep a single-replica gateway available outside the default set', () => {
    const single = Object.entries(services).filter(([, s]) => s.build !== undefined && s.profiles?.length);
    expect(single.length).toBeGreaterThan(0);
    for (const [, s] of single) expect(envMap(s.environment).REDIS_URL).toBeUndefined();
  });

  it('should give every gateway REDIS_URL, TRUST_PROXY for the network, a healthcheck, health-gated start and a grace above the drain', () => {
    const [redisName, redisService] = redis!;
    expect(redisService.healthcheck?.test).toBeDefined();
    const subnets: string[] = Object.values(compose.networks ?? {}).flatMap((n: any) =>
      (n?.ipam?.config ?? []).map((c: any) => c.subnet),
    );
    for (const [name, s] of gateways) {
      const env = envMap(s.environment);
      expect({ name, host: new URL(env.REDIS_URL).hostname }).toEqual({ name, host: redisName });
      expect({ name, trustProxy: env.TRUST_PROXY }).toEqual({
        name,
        trustProxy: expect.stringMatching(/\S/),
      });
      for (const subnet of subnets) expect(env.TRUST_PROXY.split(',').map((x) => x.trim())).toContain(subnet);
      expect({ name, healthcheck: s.healthcheck?.test !== undefined }).toEqual({ name, healthcheck: true });
      expect(s.depends_on?.[redisName]?.condition).toBe('service_healthy');
      const drain = Number(env.SHUTDOWN_DRAIN_SECONDS ?? GATEWAY_DEFAULTS.SHUTDOWN_DRAIN_SECONDS);
      expect({ name, grace: seconds(s.stop_grace_period ?? '10s') >= drain + SHUTDOWN_MARGIN_S }).toEqual({
        name,
        grace: true,
      });
    }
    for (const [name] of gateways) expect(lb![1].depends_on?.[name]?.condition).toBe('service_healthy');
  });

  it('should balance round-robin over exactly the gateway services, without stickiness', () => {
    const conf = nginxConf();
    const listen = (s: any) => Number(envMap(s.environment).PORT ?? GATEWAY_DEFAULTS.PORT);
    const servers = directives(conf, 'server').map((v) => v.split(/\s+/)[0]);
    const expected = gateways.map(([name, s]) => `${name}:${listen(s)}`);
    expect([...servers].sort()).toEqual([...expected].sort());
    // Any balancing directive other than the default round-robin (ip_hash, hash, sticky, least_conn, random).
    for (const method of ['ip_hash', 'hash', 'sticky', 'least_conn', 'random']) {
      const found = directives(conf, method).length > 0 || new RegExp(`[\\s;{]${method}\\s*;`).test(conf);
      expect({ method, found }).toEqual({ method, found: false });
    }
    // The published port reaches what nginx listens on.
    const listens = directives(conf, 'listen').map((v) => Number(/(\d+)/.exec(v)?.[1]));
    const published = (lb![1].ports as string[]).map((p) => Number(String(p).split(':').pop()));
    expect(published.some((p) => listens.includes(p))).toBe(true);
  });

  it('should proxy WebSocket upgrades and stream unbuffered, with timeouts above the ping interval', () => {
    const conf = nginxConf();
    expect(directives(conf, 'proxy_http_version')).toContain('1.1');
    const headers = directives(conf, 'proxy_set_header').map((v) => v.split(/\s+/));
    const header = (name: string) => headers.find(([h]) => h.toLowerCase() === name.toLowerCase())?.[1];
    expect(header('Upgrade')).toBe('$http_upgrade');
    const connection = header('Connection');
    expect(connection).toBeDefined();
    if (connection !== 'upgrade' && connection !== '"upgrade"') {
      // A map variable: it must exist and turn an Upgrade request into "upgrade".
      const map = new RegExp(`map\\s+\\$http_upgrade\\s+\\${connection}\\s*\\{([^}]*)\\}`).exec(conf);
      expect(map).not.toBeNull();
      expect(map![1]).toMatch(/default\s+upgrade\s*;/);
    }
    expect(header('X-Forwarded-For')).toBe('$proxy_add_x_forwarded_for');
    expect(header('X-Forwarded-Proto')).toMatch(/^\$/);
    expect(header('X-Forwarded-Host')).toMatch(/^\$/);
    expect(directives(conf, 'proxy_buffering')).toEqual(['off']);
    const ping = pingMs() / 1000;
    for (const name of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const values = directives(conf, name);
      expect({ name, set: values.length > 0 }).toEqual({ name, set: true });
      for (const v of values) expect({ name, above: seconds(v) > ping }).toEqual({ name, above: true });
    }
  });

  const itWithNginx = commandExists('nginx') ? it : it.skip;
  itWithNginx('should pass nginx -t', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tts-nginx-'));
    try {
      // nginx -t resolves upstream names; the compose service names only exist on the compose network.
      let conf = readFileSync(nginxConfigPath(), 'utf8');
      for (const [name] of gateways) conf = conf.replaceAll(`${name}:`, '127.0.0.1:');
      writeFileSync(join(dir, 'nginx.conf'), conf);
      const out = spawnSync('nginx', ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
      expect(out.stderr).toMatch(/test is successful/);
      expect(out.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the start command (package.json, Dockerfile, manifests)', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

  it('should start the image with the node flags of npm run start:prod, and npm start the same way', () => {
    expect(startScript('start')).toBe(startScript('start:prod'));
    // The last CMD of the last stage is what the image runs (exec form: a JSON array).
    const cmds = [...dockerfile.matchAll(/^CMD\s+(\[.*\])\s*$/gm)].map((m) => JSON.parse(m[1]) as string[]);
    expect(cmds.at(-1)).toEqual(['node', ...START_NODE_FLAGS, 'dist/main.js']);
  });

  it('should not override the image command in the manifests or the compose file (the flags would be lost)', () => {
    const checked: string[] = [];
    for (const file of readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f))) {
      for (const doc of parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8'))) {
        const containers: any[] = doc.toJS()?.spec?.template?.spec?.containers ?? [];
        for (const c of containers.filter((x) => String(x.image).startsWith(`${GATEWAY_NAME}:`))) {
          checked.push(`${file}/${c.name}`);
          expect({ file, command: c.command, args: c.args }).toEqual({
            file,
            command: undefined,
            args: undefined,
          });
        }
      }
    }
    const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true });
    for (const [name, service] of Object.entries<any>(compose.services ?? {}))
      if (service.build !== undefined) {
        checked.push(`compose/${name}`);
        expect({ name, command: service.command }).toEqual({ name, command: undefined });
      }
    // The gateway's Deployment and its compose services (the replicas and the single one) were all looked at.
    expect(checked.filter((c) => c.startsWith('compose/')).length).toBeGreaterThanOrEqual(2);
    expect(checked.filter((c) => !c.startsWith('compose/')).length).toBeGreaterThanOrEqual(1);
  });

  it('should refuse a start command of another shape rather than run servers without its flags', () => {
    expect(nodeFlagsOf('node --a --b=1 dist/main.js')).toEqual(['--a', '--b=1']);
    expect(nodeFlagsOf('node dist/main.js')).toEqual([]);
    expect(() => nodeFlagsOf('node -r x dist/main.js')).toThrow('not "node [--flags] dist/main.js"');
    expect(() => nodeFlagsOf('tsx src/main.ts')).toThrow();
  });
});
