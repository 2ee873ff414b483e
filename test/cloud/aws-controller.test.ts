/**
 * The parameterised controller suite (controller-suite.ts) on AWS, once per mode: AwsEipProvider,
 * AwsPrivateIpProvider and AwsRouteProvider against the AWS simulator (fixtures in test/aws/fixtures.ts).
 */
import t from 'tap';
import { awsProvider, startAwsSuiteSim, type AwsMode, type AwsSuiteSim } from '../aws/fixtures.js';
import { controllerSuite, type SuiteSim, type Tap } from './controller-suite.js';

for (const mode of ['eip', 'private-ip', 'route'] as AwsMode[]) {
  t.test(`aws ${mode}`, async (t) => {
    controllerSuite(t as unknown as Tap, {
      cloud: 'aws',
      holderMode: 'single',
      startSim: (t) => startAwsSuiteSim(t, mode),
      provider: (t, sim: SuiteSim, target) => awsProvider(t, sim as AwsSuiteSim, target),
    });
  });
}
