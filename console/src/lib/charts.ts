// Apache ECharts, only the parts the console draws (tree-shaken), and Beijing's district outlines as a map.
import { BarChart, MapChart, ScatterChart } from 'echarts/charts'
import {
  GeoComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TooltipComponent,
  VisualMapComponent,
} from 'echarts/components'
import * as echarts from 'echarts/core'
import { CanvasRenderer } from 'echarts/renderers'
import gcoord from 'gcoord'
import { onBeforeUnmount, onMounted, watch, type Ref } from 'vue'
import beijing from '../assets/beijing-districts.json'

echarts.use([
  BarChart,
  MapChart,
  ScatterChart,
  GeoComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
])
echarts.registerMap('beijing', beijing as Parameters<typeof echarts.registerMap>[1])

/** Where to centre a map of Beijing and how far to zoom so that `points` ([lon, lat]) fill it. */
export function framing(points: [number, number][]): { center?: [number, number]; zoom: number } {
  if (!points.length) return { zoom: 1 }
  const lons = points.map((p) => p[0])
  const lats = points.map((p) => p[1])
  const [west, east, south, north] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)]
  // The whole city spans about 1.9° of longitude and 1.5° of latitude: zoom so the points take some 60 % of it.
  const zoom = Math.min(1.9 / Math.max(east - west, 0.02), 1.5 / Math.max(north - south, 0.02)) * 0.6
  return { center: [(west + east) / 2, (south + north) / 2], zoom: Math.min(Math.max(zoom, 1), 12) }
}

/** A stored WGS-84 position as Chinese map data draws it (GCJ-02), [lon, lat]. */
export function onChineseMap(lat: number, lon: number): [number, number] {
  const [x, y] = gcoord.transform([lon, lat], gcoord.WGS84, gcoord.GCJ02) as [number, number]
  return [x, y]
}

/** A chart in `element`, redrawn whenever `option` changes and whenever the element changes size. Nothing is
drawn while the element has no size (a hidden tab, `v-show`): ECharts fails on a zero-size view, so the drawing
waits until the element is shown (a ResizeObserver sees it appear). */
export function useChart(element: Ref<HTMLElement | null>, option: Ref<echarts.EChartsCoreOption>) {
  let chart: echarts.ECharts | undefined
  let drawn = false
  let observer: ResizeObserver | undefined
  const visible = () => !!element.value && element.value.clientWidth > 0 && element.value.clientHeight > 0

  function draw() {
    if (!element.value || !visible()) {
      drawn = false
      element.value?.setAttribute('data-drawn', 'false')
      return
    }
    chart ??= echarts.init(element.value)
    // No animation: a figure staff read should be the figure at once (and a screenshot shows the bars).
    chart.setOption({ animation: false, ...option.value }, { notMerge: true })
    drawn = true
    element.value.setAttribute('data-drawn', 'true') // for the browser tests: what is on screen is this option
  }

  onMounted(() => {
    observer = new ResizeObserver(() => {
      if (!drawn) draw()
      else if (visible()) chart?.resize()
      else drawn = false
    })
    if (element.value) observer.observe(element.value)
    draw()
  })
  watch(option, draw, { deep: true })
  onBeforeUnmount(() => {
    observer?.disconnect()
    chart?.dispose()
    chart = undefined
  })
}
