import OpenAI from 'openai';
import type {
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import {
  type AgentMessage,
  type ChatProvider,
  MODEL_RETRIES,
  type ModelTurn,
  type ToolCall,
  type TurnRequest,
} from './chat-provider.js';

/**
 * OpenAI-compatible chat completions: OpenAI, and the servers that speak its API (Ollama,
 * llama.cpp's server, vLLM, LM Studio). The SDK reads OPENAI_BASE_URL and OPENAI_API_KEY.
 */
export function openaiProvider(model: string): ChatProvider {
  const client = new OpenAI({ maxRetries: MODEL_RETRIES });
  return {
    name: 'openai',
    model,
    async turn(request: TurnRequest): Promise<ModelTurn> {
      const stream = await client.chat.completions.create(
        {
          model,
          stream: true,
          stream_options: { include_usage: true },
          max_completion_tokens: request.maxOutputTokens,
          messages: [
            { role: 'system', content: request.system },
            ...request.messages.map(toOpenAI),
          ],
          ...(request.tools.length > 0 ? { tools: request.tools.map(toTool) } : {}),
        },
        request.signal ? { signal: request.signal } : {},
      );
      let text = '';
      const calls = new Map<number, ToolCall>();
      const usage = { inputTokens: 0, outputTokens: 0 };
      for await (const chunk of stream) {
        if (chunk.usage) {
          usage.inputTokens = chunk.usage.prompt_tokens;
          usage.outputTokens = chunk.usage.completion_tokens;
        }
        const delta = chunk.choices[0]?.delta;
        if (delta?.content) {
          text += delta.content;
          request.onText?.(delta.content);
        }
        for (const part of delta?.tool_calls ?? []) {
          const call = calls.get(part.index) ?? { id: '', name: '', arguments: '' };
          call.id ||= part.id ?? '';
          call.name += part.function?.name ?? '';
          call.arguments += part.function?.arguments ?? '';
          calls.set(part.index, call);
        }
      }
      return { text, toolCalls: [...calls.values()], usage };
    },
  };
}

function toTool(tool: TurnRequest['tools'][number]): ChatCompletionTool {
  return {
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: tool.inputSchema },
  };
}

function toOpenAI(message: AgentMessage): ChatCompletionMessageParam {
  switch (message.role) {
    case 'user':
      return { role: 'user', content: message.text };
    case 'assistant':
      return {
        role: 'assistant',
        content: message.text,
        ...(message.toolCalls.length > 0
          ? {
              tool_calls: message.toolCalls.map((call) => ({
                id: call.id,
                type: 'function' as const,
                function: { name: call.name, arguments: call.arguments },
              })),
            }
          : {}),
      };
    case 'tool':
      return { role: 'tool', tool_call_id: message.callId, content: message.text };
  }
}
