// API objects for bench/policy-scale.mjs: the synthetic cluster of policy-cluster.mjs as the
// kube-apiserver serves it. A Pod carries what a real one carries (managedFields of kubelet and a
// controller, a last-applied annotation, a full container spec with probes, env, resources and
// mounts, status with conditions and container statuses): about 4 KB of JSON, of which policy
// reads labels, namespace, nodeName, ports, phase and podIPs.

const ISO = '2026-05-01T10:00:00Z'

export function namespaceObject(ns) {
  return {
    kind: 'Namespace',
    metadata: {
      name: ns.name,
      labels: { ...ns.labels, 'kubernetes.io/metadata.name': ns.name },
      annotations: { 'scheduler.alpha.kubernetes.io/node-selector': '' },
      managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'v1', time: ISO, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': Object.fromEntries(Object.keys(ns.labels).map((k) => [`f:${k}`, {}])) } } }],
    },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  }
}

/** A model pod (policy-cluster.mjs podOf) as a running Pod object of about 4 KB. */
export function podObject(p, i) {
  const app = p.labels.app
  const container = {
    name: app,
    image: `registry.example.com/${p.namespace}/${app}:1.${i % 17}.${i % 5}`,
    imagePullPolicy: 'IfNotPresent',
    ports: p.ports.map((x) => ({ ...x })),
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
      { name: 'LOG_LEVEL', value: 'info' },
    ],
    resources: { limits: { cpu: '500m', memory: '512Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP' }, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    volumeMounts: [
      { name: 'config', mountPath: '/etc/app' },
      { name: 'kube-api-access-x7k2p', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
    ],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  }
  const hash = (i * 2654435761 >>> 0).toString(16).padStart(8, '0')
  return {
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      generateName: `${app}-${hash.slice(0, 6)}-`,
      labels: { ...p.labels, 'pod-template-hash': hash.slice(0, 8) },
      annotations: {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '9090',
        'kubectl.kubernetes.io/restartedAt': ISO,
      },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-${hash.slice(0, 6)}`, uid: `0000${hash}-1111-2222-3333-444455556666`, controller: true, blockOwnerDeletion: true }],
      managedFields: [
        { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: ISO, fieldsType: 'FieldsV1', fieldsV1: {
          'f:metadata': { 'f:generateName': {}, 'f:labels': { '.': {}, 'f:app': {}, 'f:tier': {}, 'f:version': {}, 'f:pod-template-hash': {} }, 'f:ownerReferences': { '.': {}, [`k:{"uid":"0000${hash}-1111-2222-3333-444455556666"}`]: {} } },
          'f:spec': { 'f:containers': { [`k:{"name":"${app}"}`]: { '.': {}, 'f:env': {}, 'f:image': {}, 'f:imagePullPolicy': {}, 'f:livenessProbe': {}, 'f:name': {}, 'f:ports': {}, 'f:resources': {}, 'f:volumeMounts': {} } }, 'f:dnsPolicy': {}, 'f:enableServiceLinks': {}, 'f:restartPolicy': {}, 'f:schedulerName': {}, 'f:securityContext': {}, 'f:terminationGracePeriodSeconds': {}, 'f:volumes': {} },
        } },
        { manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time: ISO, fieldsType: 'FieldsV1', subresource: 'status', fieldsV1: {
          'f:status': { 'f:conditions': { 'k:{"type":"ContainersReady"}': { '.': {}, 'f:lastProbeTime': {}, 'f:lastTransitionTime': {}, 'f:status': {}, 'f:type': {} }, 'k:{"type":"Initialized"}': { '.': {}, 'f:status': {}, 'f:type': {} }, 'k:{"type":"Ready"}': { '.': {}, 'f:status': {}, 'f:type': {} } }, 'f:containerStatuses': {}, 'f:hostIP': {}, 'f:phase': {}, 'f:podIP': {}, 'f:podIPs': { '.': {}, [`k:{"ip":"${p.ips[0]}"}`]: { '.': {}, 'f:ip': {} } }, 'f:startTime': {} },
        } },
      ],
    },
    spec: {
      volumes: [
        { name: 'config', configMap: { name: `${app}-config`, defaultMode: 420 } },
        { name: 'kube-api-access-x7k2p', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }], defaultMode: 420 } },
      ],
      containers: [container],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      serviceAccount: 'default',
      nodeName: p.nodeName,
      securityContext: {},
      schedulerName: 'default-scheduler',
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {
      phase: 'Running',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: ISO })),
      hostIP: `192.168.${(i % 50) >> 8}.${(i % 50) + 1}`,
      hostIPs: [{ ip: `192.168.0.${(i % 50) + 1}` }],
      podIP: p.ips[0],
      podIPs: p.ips.map((ip) => ({ ip })),
      startTime: ISO,
      containerStatuses: [{
        name: app, state: { running: { startedAt: ISO } }, lastState: {}, ready: true, restartCount: 0,
        image: container.image, imageID: `registry.example.com/${p.namespace}/${app}@sha256:${hash.repeat(8)}`,
        containerID: `containerd://${hash.repeat(8)}`, started: true,
      }],
      qosClass: 'Burstable',
    },
  }
}

export function policyObject(p) {
  return {
    ...p,
    metadata: {
      ...p.metadata,
      generation: 1,
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ apiVersion: p.apiVersion, kind: p.kind, metadata: p.metadata, spec: p.spec }) },
    },
  }
}

export function nodeObject(name, i) {
  return {
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
    spec: { podCIDR: `10.244.${i}.0/24`, podCIDRs: [`10.244.${i}.0/24`] },
    status: { addresses: [{ type: 'InternalIP', address: `192.168.0.${i + 1}` }, { type: 'Hostname', address: name }] },
  }
}
