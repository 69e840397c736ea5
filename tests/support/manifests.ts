import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

/** Reading k8s/ the way `kubectl apply -k` would, without kustomize: layers, their objects and generators. */
export const root = join(import.meta.dirname, '..', '..');

// biome-ignore lint/suspicious/noExplicitAny: manifests are arbitrary YAML, read field by field
type Field = any;
export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [k: string]: Field };
  [k: string]: Field;
};

export interface Kustomization {
  kind?: 'Kustomization' | 'Component';
  namespace?: string;
  resources?: string[];
  components?: string[];
  configMapGenerator?: { name: string; files: string[] }[];
}

export interface Layer {
  dir: string;
  kustomization: Kustomization;
  /** Every object the layer applies, with the file it came from (relative to the repository). */
  objects: { file: string; manifest: Manifest }[];
  /** Generated ConfigMaps: name → key → file contents. */
  configMaps: Map<string, Map<string, string>>;
}

export function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry) ? [path] : [];
  });
}

export function readDocuments(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}`);
    return document.toJS() as Manifest;
  });
}

/**
 * Loads a kustomization directory, following directory resources (other kustomizations) and
 * components, its own and `components` (as if listed in its kustomization.yaml).
 */
export function loadLayer(dir: string, added: { components?: string[] } = {}): Layer {
  const absolute = join(root, dir);
  const kustomization = parse(readFileSync(join(absolute, 'kustomization.yaml'), 'utf8')) as Kustomization;
  const layer: Layer = { dir, kustomization, objects: [], configMaps: new Map() };
  const components = [...(kustomization.components ?? []), ...(added.components ?? [])];
  const entries = [
    ...(kustomization.resources ?? []).map((path) => ({ path, kind: 'Kustomization' })),
    ...components.map((path) => ({ path, kind: 'Component' })),
  ];
  for (const { path: resource, kind } of entries) {
    const path = join(absolute, resource);
    if (!existsSync(path)) throw new Error(`${dir}/kustomization.yaml: ${resource} does not exist`);
    if (statSync(path).isDirectory()) {
      const inner = loadLayer(relative(root, path));
      // kustomize refuses a Component among resources and a Kustomization among components.
      if ((inner.kustomization.kind ?? 'Kustomization') !== kind)
        throw new Error(`${dir}: ${resource} is not a ${kind}`);
      layer.objects.push(...inner.objects);
      for (const [name, data] of inner.configMaps) layer.configMaps.set(name, data);
    } else if (kind === 'Component') {
      throw new Error(`${dir}: component ${resource} is not a directory`);
    } else {
      for (const manifest of readDocuments(path)) layer.objects.push({ file: relative(root, path), manifest });
    }
  }
  for (const generator of kustomization.configMapGenerator ?? []) {
    const data = new Map<string, string>();
    for (const entry of generator.files) {
      const [key, file] = entry.includes('=')
        ? (entry.split('=') as [string, string])
        : [entry.split('/').at(-1)!, entry];
      data.set(key, readFileSync(join(absolute, file), 'utf8'));
    }
    layer.configMaps.set(generator.name, data);
  }
  // The namespace transformer: every namespaced object lands in the layer's namespace.
  for (const { manifest } of layer.objects) {
    if (kustomization.namespace && !CLUSTER_SCOPED.has(manifest.kind))
      manifest.metadata.namespace = kustomization.namespace;
  }
  return layer;
}

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

export function find(layer: Layer, kind: string, name: string): Manifest {
  const found = layer.objects.find((o) => o.manifest.kind === kind && o.manifest.metadata.name === name);
  if (!found) throw new Error(`${layer.dir}: no ${kind} ${name}`);
  return found.manifest;
}

export function ofKind(layer: Layer, kind: string): Manifest[] {
  return layer.objects.filter((o) => o.manifest.kind === kind).map((o) => o.manifest);
}

export const dirOf = (file: string) => dirname(file);
